// ironmill: the compiler CLI.
#include <iostream>
#include <string>
#include <vector>

#include "mil/op_registry.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const char* usage =
      "usage: ironmill <command> [options]\n"
      "commands:\n"
      "  ops        list the registered MIL ops (name, family, first opset)\n";
  if (args.empty() || args[0] == "-h" || args[0] == "--help") {
    std::cout << usage;
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "ops") {
    for (const auto* s : ironmill::mil::OpRegistry::get().all())
      std::cout << s->name << "\t" << s->family << "\tios" << s->since << "\n";
    return 0;
  }
  std::cerr << "ironmill: unknown command `" << args[0] << "`\n" << usage;
  return 2;
}
