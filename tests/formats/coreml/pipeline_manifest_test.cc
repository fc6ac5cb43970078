// compile-pipeline manifests (TOML subset) and pipeline.json, against ironmill-notes.md §9.1.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "formats/coreml/pipeline_manifest.h"
#include "test_support.h"

namespace ironmill::formats::coreml {
namespace {
using ironmill::testing::expect_error_contains;

TEST(PipelineManifest, TemplateStageKeys) {
  const char* text = R"([pipeline]
name = "kjv"
seq_len = 8
[[stages]]
name = "chunk"
safetensors = "m"
component = "transformer"
layers = "3-5"
[[stages]]
name = "head"
gguf = "m.gguf"
component = "lm_head"
lm_head_parts = 2
seq_len = 4
depends_on = ["chunk"]
)";
  auto m = parse_pipeline_manifest(text, "/d/p.toml");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->stages[0].first_layer, 3);
  EXPECT_EQ(m->stages[0].last_layer, 5);
  EXPECT_EQ(m->stages[0].seq_len, 8);  // from [pipeline]
  EXPECT_EQ(m->stages[1].lm_head_parts, 2);
  EXPECT_EQ(m->stages[1].seq_len, 4);  // the stage's own
  const std::string base = "[pipeline]\nname = \"x\"\n[[stages]]\nname = \"s\"\nsafetensors = \"m\"\n";
  expect_error_contains(parse_pipeline_manifest(base + "layers = \"5-3\"\n", "p.toml").status(), {"p.toml:3"});
  expect_error_contains(parse_pipeline_manifest(base + "layers = \"a-b\"\n", "p.toml").status(), {"`layers`"});
  expect_error_contains(parse_pipeline_manifest(base + "lm_head_parts = 0\n", "p.toml").status(), {"lm_head_parts"});
  expect_error_contains(parse_pipeline_manifest(base + "seq_len = \"8\"\n", "p.toml").status(), {"seq_len"});
}

TEST(PipelineManifest, ParsesStagesInTopologicalOrder) {
  const char* text = R"(# two stages, listed out of order
[pipeline]
name = "demo"

[[stages]]
name = "head"
onnx = "head.onnx"   # relative to the manifest
component = "full"
depends_on = ["body"]

[[stages]]
name = "body"
onnx = "sub/body.onnx"
quantize = "none"
)";
  auto m = parse_pipeline_manifest(text, "/models/p.toml");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->name, "demo");
  ASSERT_EQ(m->stages.size(), 2u);
  EXPECT_EQ(m->stages[0].name, "body");
  EXPECT_EQ(m->stages[0].source, "/models/sub/body.onnx");
  EXPECT_EQ(m->stages[0].source_kind, "onnx");
  EXPECT_EQ(m->stages[1].name, "head");
  EXPECT_EQ(m->stages[1].depends_on, std::vector<std::string>{"body"});
  EXPECT_EQ(m->stages[1].component, "full");
}

TEST(PipelineManifest, ErrorsNameTheLineAndKey) {
  expect_error_contains(parse_pipeline_manifest("[pipeline]\nname = \"x\"\n[[stages]]\nname = \"a\"\nonnx = \"a.onnx\"\ncolour = \"red\"\n", "p.toml").status(),
                        {"p.toml:3", "unknown key `colour`"});
  expect_error_contains(parse_pipeline_manifest("[pipeline]\nname = \"x\"\n[[stages]]\nname = \"a\"\nonnx = \"a.onnx\"\ngguf = \"a.gguf\"\n", "p.toml").status(),
                        {"exactly one of onnx / safetensors / gguf"});
  expect_error_contains(parse_pipeline_manifest("[pipeline]\nname = x\n", "p.toml").status(), {"p.toml:2", "unsupported value"});
  expect_error_contains(parse_pipeline_manifest("[pipeline]\nname = \"x\"\n[[stages]]\nname = \"a\"\nonnx = \"a.onnx\"\ndepends_on = [\"b\"]\n"
                                                "[[stages]]\nname = \"b\"\nonnx = \"b.onnx\"\ndepends_on = [\"a\"]\n", "p.toml").status(),
                        {"cycle"});
  expect_error_contains(parse_pipeline_manifest("[pipeline]\nname = \"x\"\n[[stages]]\nname = \"a\"\nonnx = \"a.onnx\"\ndepends_on = [\"zz\"]\n", "p.toml").status(),
                        {"unknown stage `zz`"});
  expect_error_contains(parse_pipeline_manifest("[pipeline]\nname = \"x\"\n[[stages]]\nname = \"a\"\nonnx = \"a.onnx\"\ncomponent = \"decoder\"\n", "p.toml").status(),
                        {"component `decoder`"});
  expect_error_contains(parse_pipeline_manifest("[models]\n", "p.toml").status(), {"p.toml:1", "unknown table"});
}

TEST(PipelineManifest, PipelineJsonHasTheDocumentedShape) {
  BuiltStage s;
  s.name = "enc";
  s.package = "enc.mlpackage";
  s.inputs.push_back({"x", mil::Type::tensor(mil::DType::kFp32, {1, mil::kUnknownDim})});
  s.outputs.push_back({"y", mil::Type::tensor(mil::DType::kFp16, {1, 4})});
  s.depends_on = {"pre"};
  auto j = nlohmann::json::parse(pipeline_json("demo", {s}));
  EXPECT_EQ(j["name"], "demo");
  const auto& st = j["stages"][0];
  EXPECT_EQ(st["name"], "enc");
  EXPECT_EQ(st["package"], "enc.mlpackage");
  EXPECT_EQ(st["inputs"][0]["name"], "x");
  EXPECT_EQ(st["inputs"][0]["scalar_type"], "fp32");
  EXPECT_TRUE(st["inputs"][0]["shape"][1].is_null());
  EXPECT_EQ(st["outputs"][0]["shape"], nlohmann::json::array({1, 4}));
  EXPECT_EQ(st["depends_on"], nlohmann::json::array({"pre"}));
}

}  // namespace
}  // namespace ironmill::formats::coreml
