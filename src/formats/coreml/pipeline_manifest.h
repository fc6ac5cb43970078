// `ironmill compile-pipeline` manifests (ironmill-notes.md §9.1): a TOML file
//   [pipeline]
//   name = "my-model"
//   [[stages]]
//   name = "encoder"
//   onnx = "encoder.onnx"            # exactly one of onnx / safetensors / gguf, relative to the manifest
//   component = "full"               # full | embeddings | transformer | lm_head
//   quantize = "none"
//   depends_on = ["other-stage"]
//   layers = "0-2"                   # transformer stages of a SafeTensors/GGUF model: layers 0..2 (inclusive)
//   lm_head_parts = 2                # lm_head stages: logits1..N
//   seq_len = 8                      # template stages: the fixed token count T (also under [pipeline])
// and the `pipeline.json` written next to the packages:
//   {name, stages: [{name, package, inputs: [{name, scalar_type, shape: [n|null]}], outputs: [...], depends_on}]}
// with stages in topological order. Only the TOML subset these manifests use is parsed: tables,
// arrays of tables, strings, integers, booleans and arrays of strings; anything else is an error that
// names the line.
#pragma once
#include <string>
#include <vector>

#include "mil/type.h"
#include "util/status.h"

namespace ironmill::formats::coreml {

struct PipelineStage {
  std::string name;
  std::string source;       // resolved path
  std::string source_kind;  // onnx | safetensors | gguf
  std::string component = "full";
  std::string quantize = "none";
  std::vector<std::string> depends_on;
  int64_t first_layer = 0, last_layer = -1;  // `layers`; -1: through the last layer
  int64_t lm_head_parts = 1;
  int64_t seq_len = 0;                       // 0: not given (the stage's or [pipeline]'s `seq_len`)
};

struct PipelineManifest {
  std::string name;
  std::vector<PipelineStage> stages;  // topological order after parsing
};

Result<PipelineManifest> parse_pipeline_manifest(const std::string& text, const std::string& path);
Result<PipelineManifest> load_pipeline_manifest(const std::string& path);

struct StageIo {
  std::string name;
  mil::Type type;
};
struct BuiltStage {
  std::string name, package;  // package file name relative to the output directory
  std::vector<StageIo> inputs, outputs;
  std::vector<std::string> depends_on;
};
// The pipeline.json text (2-space indent, trailing newline).
std::string pipeline_json(const std::string& name, const std::vector<BuiltStage>& stages);

}  // namespace ironmill::formats::coreml
