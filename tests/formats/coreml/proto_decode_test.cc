// Independent decoders read what we write: `protoc --decode` with our schema, and Debian's
// python3-protobuf (decode_model.py), for every package these tests write; plus the wire-level facts
// of coreml-format.md §1.4 / §3.5 (tag bytes, the 180-byte annotated minimal model).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "formats/coreml/mlpackage.h"
#include "formats/coreml/model_writer.h"
#include "mil/builder.h"
#include "test_support.h"

namespace ironmill::formats::coreml {
namespace {
namespace fs = std::filesystem;
using mil::DType;
using mil::Type;

const std::string kProtoDir = std::string(IRONMILL_SOURCE_DIR) + "/src/formats/coreml";

// Runs `cmd`, returns (exit status, stdout).
std::pair<int, std::string> run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {-1, ""};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

bool have_protoc() { return run("protoc --version >/dev/null 2>&1").first == 0; }

// The annotated minimal model of coreml-format.md §3.5: relu on an fp16 [1,4] input, spec 7.
mil::Program minimal_relu() {
  mil::Program p;
  mil::Function f;
  f.name = "main";
  f.opset = "ios16";
  const Type t = Type::tensor(DType::kFp16, {1, 4});
  f.inputs.push_back({"x", t});
  mil::Operation op;
  op.type = "relu";
  op.inputs["x"].bindings.push_back(mil::Binding::ref("x"));
  op.outputs.push_back({"y", t});
  op.attributes["name"] = mil::Value::of(mil::Tensor::scalar_string("relu_0"));
  f.body.operations.push_back(op);
  f.body.outputs = {"y"};
  p.functions.push_back(f);
  return p;
}

std::string tmpdir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("ironmill_coreml_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

TEST(CoreMLProto, MinimalModelHasTheDocumentedBytes) {
  auto s = serialize_model(minimal_relu(), {});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->spec_version, 7);
  const std::string& b = s->model_bytes;
  EXPECT_EQ(b.size(), 180u) << "§3.5: the annotated minimal model is 180 bytes";
  ASSERT_GE(b.size(), 4u);
  EXPECT_EQ(uint8_t(b[0]), 0x08);  // specificationVersion (1, varint)
  EXPECT_EQ(uint8_t(b[1]), 0x07);
  EXPECT_EQ(uint8_t(b[2]), 0x12);  // description (2)
  EXPECT_NE(b.find("\xB2\x1F"), std::string::npos);  // mlProgram (502)
  EXPECT_NE(b.find(std::string("\x0A\x02\x01\x04\x10\x90\x80\x04", 8)), std::string::npos)
      << "multiArrayType shape [1,4] packed + dataType FLOAT16 (65552)";
  EXPECT_FALSE(s->weights.has_value());
}

TEST(CoreMLProto, ProtocDecodesWhatWeWrite) {
  if (!have_protoc()) GTEST_SKIP() << "protoc is not installed (Debian protobuf-compiler)";
  const std::string dir = tmpdir("protoc");
  // A model with a blob weight, so weight.bin is written too.
  mil::Program p;
  mil::Builder bld(p, "main", "ios17");
  auto x = bld.input("x", Type::tensor(DType::kFp32, {2, 16}));
  std::vector<double> w(16 * 3);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.01 * double(i);
  auto y = bld.op("linear", {{"x", x}, {"weight", mil::Tensor::from_f64(DType::kFp32, {3, 16}, w)}});
  bld.output(y);
  ASSERT_TRUE(bld.finish().ok()) << bld.status().message();
  const std::string pkg = dir + "/m.mlpackage";
  ASSERT_TRUE(write_mlpackage(pkg, p, {}).ok());
  const std::string model = pkg + "/Data/com.apple.CoreML/model.mlmodel";
  auto [rc, text] = run("protoc -I '" + kProtoDir + "' --decode=CoreML.Specification.Model Model.proto < '" + model +
                        "' 2>&1");
  ASSERT_EQ(rc, 0) << text;
  EXPECT_NE(text.find("specificationVersion: 8"), std::string::npos) << text;
  EXPECT_NE(text.find("opset: \"CoreML7\""), std::string::npos) << text;
  EXPECT_NE(text.find("type: \"linear\""), std::string::npos) << text;
  EXPECT_NE(text.find("fileName: \"@model_path/weights/weight.bin\""), std::string::npos) << text;
  EXPECT_NE(text.find("offset: 64"), std::string::npos) << text;
  EXPECT_NE(text.find("dataType: FLOAT32"), std::string::npos) << text;
  // decode_raw (no schema at all) also accepts it.
  auto raw = run("protoc --decode_raw < '" + model + "' >/dev/null 2>&1");
  EXPECT_EQ(raw.first, 0);
  fs::remove_all(dir);
}

TEST(CoreMLProto, PythonProtobufDecodesWhatWeWrite) {
  const std::string script = std::string(IRONMILL_SOURCE_DIR) + "/tests/formats/coreml/decode_model.py";
  const std::string dir = tmpdir("python");
  // Single function (stateful) and multi-function models.
  mil::Program p = minimal_relu();
  const std::string f1 = dir + "/relu.mlmodel";
  ASSERT_TRUE(write_mlmodel(f1, p, {}).ok());
  auto [rc, out] = run("/usr/bin/python3 '" + script + "' '" + kProtoDir + "' '" + f1 + "' 2>&1");
  if (rc == 77) GTEST_SKIP() << "python3-protobuf or protoc missing: " << out;
  ASSERT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["spec"], 7);
  EXPECT_EQ(j["type"], "mlProgram");
  EXPECT_EQ(j["inputs"][0][0], "x");
  EXPECT_EQ(j["inputs"][0][1], 65552);
  EXPECT_EQ(j["inputs"][0][2], nlohmann::json::array({1, 4}));
  EXPECT_EQ(j["functions"]["main"]["opset"], "CoreML6");
  EXPECT_EQ(j["functions"]["main"]["ops"], nlohmann::json::array({"relu"}));
  EXPECT_TRUE(j["reserialized_equal"].get<bool>()) << "python's deterministic re-encoding differs from ours";

  mil::Program mf = minimal_relu();
  mf.functions[0].opset = "ios18";
  mil::Function g = mf.functions[0];
  g.name = "infer";
  mf.functions[0].name = "prefill";
  mf.functions.push_back(g);
  const std::string f2 = dir + "/multi.mlpackage";
  WriteOptions wo;
  wo.info.default_function = "infer";
  ASSERT_TRUE(write_mlpackage(f2, mf, wo).ok());
  auto [rc2, out2] = run("/usr/bin/python3 '" + script + "' '" + kProtoDir + "' '" + f2 +
                         "/Data/com.apple.CoreML/model.mlmodel' 2>&1");
  ASSERT_EQ(rc2, 0) << out2;
  auto j2 = nlohmann::json::parse(out2);
  EXPECT_EQ(j2["spec"], 9);
  EXPECT_EQ(j2["default_function"], "infer");
  EXPECT_EQ(j2["functions"].size(), 2u);
  EXPECT_EQ(j2["functions"]["prefill"]["opset"], "CoreML8");
  EXPECT_TRUE(j2["reserialized_equal"].get<bool>());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ironmill::formats::coreml
