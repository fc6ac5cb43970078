// Architecture-template models (SafeTensors directories, GGUF files: templates::load_model) compiled to
// Core ML packages. What a package holds (README, Core ML section):
//   - `prefill`: input_ids int32 [T] -> logits [T, V] (+ hidden_0..hidden_L when asked), and, when a cache
//     length C is given, the KV cache it filled (<cache>_out, explicit tensors, not Core ML states);
//   - `decode` (only with C > 0): token int32 [1], position int32 [1], every cache tensor [.., C, ..] ->
//     logits [1, V] and the updated cache (<cache>_out).
// Both functions live in one multi-function package (specification 9, default function `prefill`);
// identical weights are stored once in weight.bin, so the two share them. T and C are fixed (static
// shapes, as Core ML and the ANE want). C = 0 gives a prefill-only, single-function package, which
// specifications 6-8 can hold.
// Precision: fp32 keeps the template's fp32 program; fp16 stores every float weight as fp16 and computes
// in fp16 (every fp32 value, I/O and caches included, becomes fp16: Core ML's FLOAT16 compute precision,
// applied by the ane-mixed-precision pass), so it needs specification 7+ (fp16 model I/O).
#pragma once
#include <string>

#include "formats/coreml/model_writer.h"
#include "frontends/templates/template.h"
#include "mil/ir.h"
#include "util/status.h"

namespace ironmill::backends::coreml {

enum class Precision { kFp32, kFp16 };
Result<Precision> parse_precision(const std::string& name);  // "fp32" | "fp16"
std::string precision_name(Precision p);

// fp16: every fp32 tensor of `program` (constants, inputs, op outputs, cast targets) becomes fp16.
Status apply_precision(mil::Program& program, Precision precision);

// Tags every function with opset `tag` (ios15..ios18; templates build ios18) and verifies that each op
// exists there, so `--spec ios16` gives an ios16 program or an error naming the op.
Status retarget_opset(mil::Program& program, const std::string& tag);

// Core ML states for the KV cache: every cache tensor X becomes a `state<tensor<fp16, ..>>` input of
// `prefill` and `decode`, read with read_state and updated with write_state, instead of the explicit
// X / X_out tensors. Core ML states are fp16 only, so this needs fp16 caches (Precision::kFp16).
Status make_cache_stateful(mil::Program& program);

struct LlmPackageOptions {
  int64_t prefill_length = 64;  // T
  int64_t max_context = 0;      // C; 0: prefill only, no cache outputs, no decode function
  bool hidden_states = false;   // prefill also returns hidden_0..hidden_L
  bool stateful = false;        // KV cache as Core ML states (make_cache_stateful); needs fp16 and C > 0
  Precision precision = Precision::kFp32;
  int spec_version = 0;         // 0: the lowest that can hold the program; else also the functions' opset
};

// The template program with the package's precision applied and its model info (default function).
struct LlmPackageProgram {
  mil::Program program;
  formats::coreml::WriteOptions write_options;
};
Result<LlmPackageProgram> build_llm_package_program(const templates::LoadedModel& model, const LlmPackageOptions& options);

// build_llm_package_program + the atomic package write. Returns the serialized model (sizes, spec).
Result<formats::coreml::SerializedModel> write_llm_package(const templates::LoadedModel& model,
                                                           const LlmPackageOptions& options, const std::string& path);

}  // namespace ironmill::backends::coreml
