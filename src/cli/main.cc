// ironmill: the compiler CLI. Subcommands grow with the issues; today: ops, verify, print, run.
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "mil/op_registry.h"
#include "mil/text.h"
#include "mil/verifier.h"

int cmd_inspect(const std::vector<std::string>& args);  // onnx_inspect.cc
int cmd_tokenize(const std::vector<std::string>& args);  // tokenize_command.cc
int cmd_coreml_compile(const std::vector<std::string>& args);  // coreml_commands.cc
bool is_coreml_compile(const std::vector<std::string>& args);  // coreml_commands.cc: no --runtime, or coreml
int cmd_coreml_inspect(const std::vector<std::string>& args);  // coreml_commands.cc
bool is_coreml_path(const std::string& path);                  // coreml_commands.cc
int cmd_compile_pipeline(const std::vector<std::string>& args);  // coreml_commands.cc
int cmd_export_gguf(const std::vector<std::string>& args);  // export_gguf_command.cc
int cmd_validate(const std::vector<std::string>& args);  // ane_commands.cc
int cmd_compile(const std::vector<std::string>& args);   // ane_commands.cc
int cmd_generate(const std::vector<std::string>& args);  // generate_command.cc (decode engine)
int cmd_chat(const std::vector<std::string>& args);      // chat_command.cc (decode engine)
bool is_gpu_compile(const std::vector<std::string>& args);  // gpu_bundle_command.cc: --runtime gpu
int cmd_gpu_compile(const std::vector<std::string>& args);  // gpu_bundle_command.cc

namespace {

const char* kUsage =
    "usage: ironmill <command> [options]\n"
    "commands:\n"
    "  ops [--json]                      list the registered MIL ops (name, family, first opset)\n"
    "  verify FILE.mil                   parse and verify a MIL text program\n"
    "  print FILE.mil [--dialect 1.0|1.3] parse, verify and print a MIL text program\n"
    "  inspect MODEL.onnx [--format json] inputs, outputs, op histogram, parameter count of an ONNX model\n"
    "  inspect X.mlpackage|X.mlmodel [--format text|json|mil]\n"
    "                                    Core ML model: description, functions, op histogram, weights\n"
    "  compile IN.onnx [-o OUT.mlpackage] [--spec ios15..ios18]\n"
    "                                    convert to a Core ML ML Program package (or .mlmodel)\n"
    "  compile-pipeline MANIFEST.toml -o DIR   one .mlpackage per stage + pipeline.json\n"
    "  tokenize MODEL_DIR [--text S | --file F] [--count] [--format json]\n"
    "                                    encode text with the model's tokenizer; print ids or their count\n"
    "  export-gguf MODEL_DIR -o OUT.gguf [--type f16|q8_0|q4_0|q4_k|q6_k|f32|bf16]\n"
    "                                    write a HF checkpoint (llama/mistral/qwen2/qwen3) as GGUF\n"
    "  generate --model PATH --prompt TEXT [--max-tokens N] [--temperature T] [--seed S]\n"
    "                                    text generation on the decode engine (CPU)\n"
    "  chat --model PATH                 interactive generation on the decode engine\n"
    "  validate INPUT [--profile NAME] [--format text|json] [--lower]\n"
    "                                    emulated ANE compile policy: per-op verdicts, fallbacks, size walls\n"
    "  compile INPUT --runtime ane -o OUT.ironml [--profile NAME] [--ane-memory-budget SIZE]\n"
    "  compile INPUT --runtime gpu -o OUT.ironml-gpu   GGUF / HF checkpoint -> decode-engine bundle\n"
    "                                    lower for the ANE and write an .ironml bundle\n";

ironmill::Result<ironmill::mil::Program> load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ironmill::io_error("cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ironmill::mil::parse_mil_text(ss.str(), path);
}

int cmd_ops(const std::vector<std::string>& args) {
  const auto& reg = ironmill::mil::OpRegistry::get();
  if (!args.empty() && args[0] == "--json") {
    nlohmann::json j = nlohmann::json::array();
    for (const auto* s : reg.all()) {
      nlohmann::json inputs = nlohmann::json::array();
      for (const auto& in : s->variants.back().inputs) inputs.push_back(in.name);
      j.push_back({{"name", s->name}, {"family", s->family}, {"since", "ios" + std::to_string(s->since)},
                   {"inputs", inputs}});
    }
    std::cout << j.dump(1) << "\n";
    return 0;
  }
  for (const auto* s : reg.all()) std::cout << s->name << "\t" << s->family << "\tios" << s->since << "\n";
  return 0;
}

int cmd_verify(const std::vector<std::string>& args, bool print) {
  if (args.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  auto p = load(args[0]);
  if (!p.ok()) {
    std::cerr << "ironmill: " << p.status().message() << "\n";
    return 1;
  }
  for (size_t i = 1; i + 1 < args.size(); ++i)
    if (args[i] == "--dialect") p->text_version = args[i + 1];
  if (p->text_version != "1.0" && p->text_version != "1.3") {
    std::cerr << "ironmill: --dialect must be 1.0 or 1.3\n";
    return 2;
  }
  if (auto s = ironmill::mil::verify(*p); !s.ok()) {
    std::cerr << "ironmill: " << args[0] << ": " << s.message() << "\n";
    return 1;
  }
  if (print) std::cout << ironmill::mil::print_mil_text(*p);
  else std::cout << args[0] << ": ok (" << p->functions.size() << " function(s), " << p->op_count() << " ops)\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string cmd = args[0];
  args.erase(args.begin());
  if (cmd == "ops") return cmd_ops(args);
  if (cmd == "verify") return cmd_verify(args, false);
  if (cmd == "print") return cmd_verify(args, true);
  if (cmd == "inspect" && !args.empty() && is_coreml_path(args[0])) return cmd_coreml_inspect(args);
  if (cmd == "inspect") return cmd_inspect(args);
  if (cmd == "compile" && is_coreml_compile(args)) return cmd_coreml_compile(args);
  if (cmd == "compile-pipeline") return cmd_compile_pipeline(args);
  if (cmd == "tokenize") return cmd_tokenize(args);
  if (cmd == "export-gguf") return cmd_export_gguf(args);
  if (cmd == "generate") return cmd_generate(args);
  if (cmd == "chat") return cmd_chat(args);
  if (cmd == "validate") return cmd_validate(args);
  if (cmd == "compile" && is_gpu_compile(args)) return cmd_gpu_compile(args);
  if (cmd == "compile") return cmd_compile(args);
  std::cerr << "ironmill: unknown command `" << cmd << "`\n" << kUsage;
  return 2;
}
