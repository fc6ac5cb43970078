// `ironmill compile INPUT --runtime gpu -o OUT.ironml-gpu`: a GGUF file or HF checkpoint directory -> the
// decode engine's .ironml-gpu bundle (src/engine/bundle), weights kept in their stored formats.
#include <iostream>
#include <string>
#include <vector>

#include "engine/bundle/gpu_bundle.h"

namespace {
constexpr const char* kUsage =
    "usage: ironmill compile INPUT --runtime gpu -o OUT.ironml-gpu\n"
    "  INPUT: a .gguf file (F32/F16/BF16/Q4_0/Q8_0/Q4_K/Q6_K kept as stored, other types widened to F32)\n"
    "         or an HF checkpoint directory (config.json + F32/F16/BF16 SafeTensors)\n";
}  // namespace

bool is_gpu_compile(const std::vector<std::string>& args) {
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == "--runtime") return args[i + 1] == "gpu";
  return false;
}

int cmd_gpu_compile(const std::vector<std::string>& args) {
  std::string input, out;
  for (size_t i = 0; i < args.size(); ++i) {  // args: everything after `compile`
    const std::string& a = args[i];
    if (a == "--runtime" && i + 1 < args.size()) ++i;
    else if ((a == "-o" || a == "--output") && i + 1 < args.size()) out = args[++i];
    else if (a == "-h" || a == "--help") { std::cout << kUsage; return 0; }
    else if (!a.empty() && a[0] == '-') { std::cerr << "ironmill compile: unknown option " << a << "\n" << kUsage; return 2; }
    else if (input.empty()) input = a;
    else { std::cerr << kUsage; return 2; }
  }
  if (input.empty() || out.empty()) { std::cerr << kUsage; return 2; }
  const ironmill::Status s = ironmill::engine::compile_gpu_bundle(input, out);
  if (!s.ok()) { std::cerr << "ironmill compile: " << s.message() << "\n"; return 1; }
  auto b = ironmill::engine::open_gpu_bundle(out);
  if (!b.ok()) { std::cerr << "ironmill compile: wrote " << out << " but cannot read it back: " << b.status().message() << "\n"; return 1; }
  std::cout << "wrote " << out << " (" << b->weights.size() << " tensors, source " << b->source << ")\n";
  return 0;
}
