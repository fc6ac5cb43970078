// mill-harness: the verification harness (op-eval now; parity, perplexity, benchmarks later).
#include <iostream>
#include <string>
#include <vector>

#include "backends/coreml/llm/coreml_language_model.h"
#include "engine/language_model.h"
#include "harness/ane_matrix_command.h"
#include "harness/onnx_conformance_command.h"
#include "harness/latency_command.h"
#include "harness/op_eval_command.h"
#include "harness/parity_command.h"
#include "harness/perplexity_command.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  ironmill::backends::coreml::register_coreml_language_models();  // parity/perplexity backends coreml-fp32/-fp16
  ironmill::engine::register_engine_language_model();              // backend `engine` (the decode engine)
  const char* usage =
      "usage: mill-harness <command> [options]\n"
      "commands:\n"
      "  op-eval    run the op-support eval suite and write reports/op-matrix.{md,json}\n"
      "  parity --golden  architecture templates vs Hugging Face goldens: reports/parity.{md,json}\n"
      "  perplexity --model PATH --text FILE --protocol chunked:N|sliding:W:S  perplexity of a text\n"
      "  latency --model PATH [--prompt-tokens N] [--gen-tokens M] [--runs R] [--json FILE]  decode-engine latency\n"
      "  onnx-conformance  run ONNX backend node tests through the ONNX frontend + reference interpreter\n"
      "  ane-matrix [--profile NAME]  published ANE op matrix vs the EMULATED verdict: reports/ane-op-matrix.{md,json,html}\n";
  if (args.empty() || args[0] == "-h" || args[0] == "--help") {
    std::cout << usage;
    return args.empty() ? 2 : 0;
  }
  const std::string cmd = args[0];
  args.erase(args.begin());
  if (cmd == "op-eval") return ironmill::harness::op_eval_command(args);
  if (cmd == "parity") return ironmill::harness::parity_command(args);
  if (cmd == "perplexity") return ironmill::harness::perplexity_command(args);
  if (cmd == "latency") return ironmill::harness::latency_command(args);
  if (cmd == "onnx-conformance") return ironmill::harness::onnx_conformance_command(args);
  if (cmd == "ane-matrix") return ironmill::harness::ane_matrix_command(args);
  std::cerr << "mill-harness: unknown command `" << cmd << "`\n" << usage;
  return 2;
}
