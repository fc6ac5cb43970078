// .mlpackage / .mlmodel reader against the writer: reading what we wrote gives the same MIL, and
// writing that again gives identical protobuf bytes and weight.bin. Covered: every op-eval program
// (all op families), stateful / multi-function / flexible-shape / metadata models, iOS16 vs iOS18
// constexpr serialization, atomic package writes and corrupt inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "Model.pb.h"
#include "formats/coreml/mlpackage.h"
#include "formats/mapped_file.h"
#include "formats/coreml/model_writer.h"
#include "frontends/coreml/coreml_import.h"
#include "mil/builder.h"
#include "mil/text.h"
#include "mil/verifier.h"
#include "op_eval/op_eval.h"
#include "test_support.h"

namespace ironmill::frontends::coreml {
namespace {
namespace fs = std::filesystem;
namespace fc = formats::coreml;
using ironmill::testing::expect_error_contains;
using mil::DType;
using mil::Tensor;
using mil::Type;

std::string tmpdir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("ironmill_coreml_rt_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

std::string read_file(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Serialize -> import -> serialize; checks MIL text equality and byte identity. Returns the first status.
Status round_trip(const mil::Program& p, const fc::WriteOptions& wo, std::string* why) {
  IM_ASSIGN_OR_RETURN(fc::SerializedModel s1, fc::serialize_model(p, wo));
  std::shared_ptr<fc::BlobReader> w;
  if (s1.weights) {
    IM_ASSIGN_OR_RETURN(w, fc::BlobReader::open(std::make_shared<formats::ByteBuffer>(*s1.weights), "weight.bin"));
  }
  IM_ASSIGN_OR_RETURN(CoreMLModel m, import_model_bytes(s1.model_bytes, w, "model.mlmodel"));
  mil::Program orig = p;
  orig.text_version = m.program.text_version;
  if (mil::print_mil_text(orig) != mil::print_mil_text(m.program)) {
    *why = "MIL differs after reading:\n" + mil::print_mil_text(orig) + "\n----\n" + mil::print_mil_text(m.program);
    return Status::Ok();
  }
  fc::WriteOptions wo2;
  wo2.info = m.info;
  IM_ASSIGN_OR_RETURN(fc::SerializedModel s2, fc::serialize_model(m.program, wo2));
  if (s2.model_bytes != s1.model_bytes) *why = "protobuf bytes differ on re-write";
  else if (s1.weights != s2.weights) *why = "weight.bin differs on re-write";
  return Status::Ok();
}

TEST(CoreMLRoundTrip, EveryOpEvalProgram) {
  auto files = op_eval::list_case_files(std::string(IRONMILL_SOURCE_DIR) + "/op_eval/cases");
  ASSERT_GT(files.size(), 800u);
  int ok = 0, unrepresentable = 0;
  std::set<std::string> ops;
  for (const auto& f : files) {
    auto c = op_eval::load_case(f);
    ASSERT_TRUE(c.ok()) << c.status().message();
    std::string why;
    Status s = round_trip(c->program, {}, &why);
    if (!s.ok()) {
      // Only Core ML's model-level limits (I/O dtypes such as bool/int64/int8, fp32 states) may refuse.
      EXPECT_EQ(s.code(), ErrorCode::kUnsupported) << f << ": " << s.message();
      ++unrepresentable;
      continue;
    }
    EXPECT_TRUE(why.empty()) << f << ": " << why;
    if (why.empty()) { ++ok; ops.insert(c->op); }
  }
  std::printf("round-tripped %d op-eval programs (%zu ops); %d not representable as Core ML models\n", ok,
              ops.size(), unrepresentable);
  EXPECT_GT(ok, 600);
  EXPECT_GT(ops.size(), 140u);
}

mil::Program stateful_kv_program() {
  // read_state / write_state on an fp16 KV-cache state, ios18.
  mil::Program p;
  mil::Builder b(p, "main", "ios18");
  auto cache = b.input("k_cache", Type::state(Type::tensor(DType::kFp16, {1, 2, 4, 8})));
  auto x = b.input("x", Type::tensor(DType::kFp16, {1, 2, 1, 8}));
  auto cur = b.op("read_state", {{"input", cache}});
  auto upd = b.op("slice_update", {{"x", cur}, {"update", x},
                                   {"begin", testing::int32_vector({0, 0, 1, 0})}, {"end", testing::int32_vector({1, 2, 2, 8})}});
  b.ops("write_state", {{"input", cache}, {"data", upd}});
  auto back = b.op("read_state", {{"input", cache}});
  auto y = b.op("reduce_sum", {{"x", back}, {"axes", testing::int32_vector({3})}, {"keep_dims", testing::bool_scalar(false)}});
  b.output(y);
  EXPECT_TRUE(b.finish().ok()) << b.status().message();
  return p;
}

TEST(CoreMLRoundTrip, StatefulModelDescribesItsState) {
  mil::Program p = stateful_kv_program();
  auto s = fc::serialize_model(p, {});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->spec_version, 9);
  const auto& d = s->model.description();
  ASSERT_EQ(d.state_size(), 1);
  EXPECT_EQ(d.state(0).name(), "k_cache");
  EXPECT_EQ(d.state(0).type().statetype().arraytype().datatype(), CoreML::Specification::ArrayFeatureType::FLOAT16);
  ASSERT_EQ(d.input_size(), 1);
  EXPECT_EQ(d.input(0).name(), "x");
  std::string why;
  ASSERT_TRUE(round_trip(p, {}, &why).ok());
  EXPECT_TRUE(why.empty()) << why;
  // Core ML accepts only fp16 states.
  mil::Program bad;
  mil::Builder b(bad, "main", "ios18");
  auto st = b.input("s", Type::state(Type::tensor(DType::kFp32, {4})));
  b.output(b.op("read_state", {{"input", st}}));
  ASSERT_TRUE(b.finish().ok());
  expect_error_contains(fc::serialize_model(bad, {}).status(), {"state `s`", "fp16"});
}

TEST(CoreMLRoundTrip, MultiFunctionModelSharesWeights) {
  mil::Program p;
  std::vector<double> w(8 * 8);
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::sin(double(i));
  const Tensor weight = Tensor::from_f64(DType::kFp16, {8, 8}, w);
  for (const char* fn : {"prefill", "infer"}) {
    mil::Builder b(p, fn, "ios18");
    auto x = b.input("x", Type::tensor(DType::kFp16, {std::string(fn) == "prefill" ? 4 : 1, 8}));
    b.output(b.op("linear", {{"x", x}, {"weight", weight}}));
    ASSERT_TRUE(b.finish().ok()) << b.status().message();
  }
  fc::WriteOptions wo;
  wo.info.default_function = "infer";
  auto s = fc::serialize_model(p, wo);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->spec_version, 9);
  const auto& d = s->model.description();
  ASSERT_EQ(d.functions_size(), 2);
  EXPECT_EQ(d.functions(0).name(), "prefill");
  EXPECT_EQ(d.defaultfunctionname(), "infer");
  EXPECT_EQ(d.input_size(), 0) << "multi-function I/O goes in FunctionDescription";
  ASSERT_TRUE(s->weights.has_value());
  auto r = fc::BlobReader::open(std::make_shared<formats::ByteBuffer>(*s->weights), "weight.bin");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->count(), 1u) << "the two functions' identical weights share one blob";
  std::string why;
  ASSERT_TRUE(round_trip(p, wo, &why).ok());
  EXPECT_TRUE(why.empty()) << why;
}

TEST(CoreMLRoundTrip, FlexibleShapesAndMetadata) {
  mil::Program p;
  mil::Builder b(p, "main", "ios17");
  auto ids = b.input("ids", Type::tensor(DType::kInt32, {1, mil::kUnknownDim}));
  auto x = b.input("x", Type::tensor(DType::kFp32, {mil::kUnknownDim, 4}));
  auto c = b.op("cast", {{"x", ids}, {"dtype", testing::string_scalar("fp32")}});
  b.output(c);
  b.output(b.op("relu", {{"x", x}}));
  ASSERT_TRUE(b.finish().ok()) << b.status().message();
  fc::WriteOptions wo;
  wo.info.metadata.author = "ironmill tests";
  wo.info.metadata.license = "MIT";
  wo.info.metadata.user_defined["com.ironmill.source"] = "unit test";
  wo.info.feature_descriptions["ids"] = "token ids";
  wo.info.flexible_inputs["x"] = fc::ShapeFlexibility{{2, 4}, {{1, 4}, {2, 4}, {8, 4}}, {}};
  auto s = fc::serialize_model(p, wo);
  ASSERT_TRUE(s.ok()) << s.status().message();
  const auto& d = s->model.description();
  const auto& ids_t = d.input(0).type().multiarraytype();
  EXPECT_EQ(ids_t.datatype(), CoreML::Specification::ArrayFeatureType::INT32);
  ASSERT_TRUE(ids_t.has_shaperange());
  ASSERT_EQ(ids_t.shaperange().sizeranges_size(), 2);
  EXPECT_EQ(ids_t.shaperange().sizeranges(1).upperbound(), -1);
  EXPECT_EQ(ids_t.shaperange().sizeranges(1).lowerbound(), 1u);
  EXPECT_EQ(d.input(0).shortdescription(), "token ids");
  const auto& x_t = d.input(1).type().multiarraytype();
  ASSERT_TRUE(x_t.has_enumeratedshapes());
  EXPECT_EQ(x_t.enumeratedshapes().shapes_size(), 3);
  EXPECT_EQ(x_t.shape(0), 2);
  EXPECT_EQ(d.output(0).type().multiarraytype().shape_size(), 0) << "symbolic output shape omitted";
  EXPECT_EQ(d.metadata().author(), "ironmill tests");
  EXPECT_EQ(d.metadata().userdefined().at("com.ironmill.source"), "unit test");
  std::string why;
  ASSERT_TRUE(round_trip(p, wo, &why).ok());
  EXPECT_TRUE(why.empty()) << why;
}

TEST(CoreMLRoundTrip, ConstexprParamsAreAttributesBeforeIos18AndInputsFrom18) {
  // iOS16: constexpr_affine_dequantize with params in attributes.
  const char* ios16 = R"(program(1.0)
{
    func main<ios16>(tensor<fp32, [2, 8]> x) {
            tensor<fp32, [4, 8]> w = constexpr_affine_dequantize()[axis = tensor<int32, []>(0), name = tensor<string, []>("w"), quantized_data = tensor<uint8, [4, 8]>([[1, 2, 3, 4, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14, 15, 16], [1, 2, 3, 4, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14, 15, 16]]), scale = tensor<fp32, [4]>([0x1p-1, 0x1p-2, 0x1p-3, 0x1p-4]), zero_point = tensor<uint8, [4]>([1, 1, 1, 1])];
            tensor<fp32, [2, 4]> y = linear(weight = w, x = x)[name = tensor<string, []>("y")];
        } -> (y);
}
)";
  auto p16 = mil::parse_mil_text(ios16);
  ASSERT_TRUE(p16.ok()) << p16.status().message();
  auto s16 = fc::serialize_model(*p16, {});
  ASSERT_TRUE(s16.ok()) << s16.status().message();
  const auto& op16 = s16->model.mlprogram().functions().at("main").block_specializations().at("CoreML6").operations(0);
  EXPECT_EQ(op16.type(), "constexpr_affine_dequantize");
  EXPECT_EQ(op16.inputs_size(), 0);
  EXPECT_TRUE(op16.attributes().count("quantized_data"));
  EXPECT_TRUE(op16.attributes().at("quantized_data").has_blobfilevalue()) << "32 uint8 values go to weight.bin";
  EXPECT_TRUE(op16.attributes().at("scale").has_immediatevalue());
  std::string why;
  ASSERT_TRUE(round_trip(*p16, {}, &why).ok());
  EXPECT_TRUE(why.empty()) << why;

  // iOS18: constexpr_blockwise_shift_scale with int4 data as inline inputs.
  const char* ios18 = R"(program(1.3)
{
    func main<ios18>(tensor<fp16, [1, 16]> x) {
            tensor<fp16, [2, 16]> w = constexpr_blockwise_shift_scale(data = tensor<int4, [2, 16]>([[-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7], [7, 6, 5, 4, 3, 2, 1, 0, -1, -2, -3, -4, -5, -6, -7, -8]]), scale = tensor<fp16, [2, 1]>([[0x1p-2], [0x1p-3]]))[name = string("w")];
            tensor<fp16, [1, 2]> y = linear(weight = w, x = x)[name = string("y")];
        } -> (y);
}
)";
  auto p18 = mil::parse_mil_text(ios18);
  ASSERT_TRUE(p18.ok()) << p18.status().message();
  auto s18 = fc::serialize_model(*p18, {});
  ASSERT_TRUE(s18.ok()) << s18.status().message();
  const auto& op18 = s18->model.mlprogram().functions().at("main").block_specializations().at("CoreML8").operations(0);
  EXPECT_EQ(op18.inputs_size(), 2);
  ASSERT_TRUE(op18.inputs().count("data"));
  EXPECT_TRUE(op18.inputs().at("data").arguments(0).value().has_blobfilevalue());
  ASSERT_TRUE(s18->weights.has_value());
  auto r = fc::BlobReader::open(std::make_shared<formats::ByteBuffer>(*s18->weights), "weight.bin");
  ASSERT_TRUE(r.ok());
  auto rec = (*r)->record(64);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->dtype_code, 8u) << "Int4 blob code";
  EXPECT_EQ(rec->size, 16u);
  ASSERT_TRUE(round_trip(*p18, {}, &why).ok());
  EXPECT_TRUE(why.empty()) << why;
}

TEST(CoreMLPackage, WrittenPackageReadsBackFromDisk) {
  const std::string dir = tmpdir("pkg");
  mil::Program p = stateful_kv_program();
  // plus a blob weight
  const std::string pkg = dir + "/kv.mlpackage";
  ASSERT_TRUE(fc::write_mlpackage(pkg, p, {}).ok());
  auto layout = fc::read_package_layout(pkg);
  ASSERT_TRUE(layout.ok()) << layout.status().message();
  auto manifest = nlohmann::json::parse(read_file(pkg + "/Manifest.json"));
  EXPECT_EQ(manifest["fileFormatVersion"], "1.0.0");
  const std::string root = manifest["rootModelIdentifier"];
  EXPECT_EQ(root.size(), 36u);
  EXPECT_EQ(root[14], '4') << "UUID version 4";
  EXPECT_EQ(manifest["itemInfoEntries"][root]["path"], "com.apple.CoreML/model.mlmodel");
  EXPECT_EQ(manifest["itemInfoEntries"][root]["author"], "com.apple.CoreML");
  auto m = load_coreml(pkg);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->program.functions.size(), 1u);
  // Re-writing what we read gives the same model bytes.
  fc::WriteOptions wo;
  wo.info = m->info;
  const std::string pkg2 = dir + "/kv2.mlpackage";
  ASSERT_TRUE(fc::write_mlpackage(pkg2, m->program, wo).ok());
  EXPECT_EQ(read_file(pkg + "/Data/com.apple.CoreML/model.mlmodel"), read_file(pkg2 + "/Data/com.apple.CoreML/model.mlmodel"));
  // Overwriting an existing package replaces it whole.
  ASSERT_TRUE(fc::write_mlpackage(pkg2, p, {}).ok());
  int entries = 0;
  for (auto& e : fs::directory_iterator(dir)) { (void)e; ++entries; }
  EXPECT_EQ(entries, 2) << "no temporary siblings left behind";
  fs::remove_all(dir);
}

TEST(CoreMLPackage, BlobWeightsRoundTripThroughDisk) {
  const std::string dir = tmpdir("blobs");
  mil::Program p;
  mil::Builder b(p, "main", "ios18");
  auto x = b.input("x", Type::tensor(DType::kFp32, {1, 32}));
  std::vector<double> w(32 * 16);
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::cos(0.1 * double(i));
  b.output(b.op("linear", {{"x", x}, {"weight", Tensor::from_f64(DType::kFp32, {16, 32}, w)}}));
  ASSERT_TRUE(b.finish().ok());
  const std::string pkg = dir + "/lin.mlpackage";
  ASSERT_TRUE(fc::write_mlpackage(pkg, p, {}).ok());
  auto m = load_coreml(pkg, {.materialize_blobs = false});
  ASSERT_TRUE(m.ok()) << m.status().message();
  // Kept as BLOBFILE references; re-written through the reader's weights: identical files.
  fc::WriteOptions wo;
  wo.info = m->info;
  const auto* mp = &*m;
  wo.blob_source = [mp](const mil::BlobFileRef& r, const Type& t) { return mp->resolve_blob(r, t); };
  const std::string pkg2 = dir + "/lin2.mlpackage";
  ASSERT_TRUE(fc::write_mlpackage(pkg2, m->program, wo).ok());
  const std::string wpath = "/Data/com.apple.CoreML/weights/weight.bin";
  EXPECT_EQ(read_file(pkg + wpath), read_file(pkg2 + wpath));
  EXPECT_EQ(read_file(pkg + wpath).size(), 64u + 64u + 32u * 16u * 4u);
  EXPECT_EQ(read_file(pkg + "/Data/com.apple.CoreML/model.mlmodel"), read_file(pkg2 + "/Data/com.apple.CoreML/model.mlmodel"));
  fs::remove_all(dir);
}

TEST(CoreMLPackage, FailedWriteLeavesNoPartialPackage) {
  const std::string dir = tmpdir("fail");
  mil::Program p;
  mil::Builder b(p, "main", "ios15");
  auto x = b.input("x", Type::tensor(DType::kBool, {4}));  // Core ML has no bool multi-arrays
  b.output(b.op("logical_not", {{"x", x}}));
  ASSERT_TRUE(b.finish().ok());
  const std::string pkg = dir + "/bad.mlpackage";
  expect_error_contains(fc::write_mlpackage(pkg, p, {}), {"feature `x`", "bool"});
  EXPECT_FALSE(fs::exists(pkg));
  EXPECT_TRUE(fs::is_empty(dir)) << "no temporary directory left behind";
  // A package path without the extension is refused before anything is written.
  expect_error_contains(fc::write_mlpackage(dir + "/x.bin", stateful_kv_program(), {}), {".mlpackage"});
  // The requested spec must hold the program.
  fc::WriteOptions wo;
  wo.info.spec_version = 7;
  expect_error_contains(fc::write_mlpackage(pkg, stateful_kv_program(), wo), {"specification 7", "too low"});
  EXPECT_TRUE(fs::is_empty(dir));
  fs::remove_all(dir);
}

TEST(CoreMLPackage, CorruptInputsGiveClearErrors) {
  const std::string dir = tmpdir("corrupt");
  const std::string pkg = dir + "/m.mlpackage";
  mil::Program p;
  mil::Builder b(p, "main", "ios17");
  auto x = b.input("x", Type::tensor(DType::kFp32, {1, 16}));
  b.output(b.op("add", {{"x", x}, {"y", Tensor::from_f64(DType::kFp32, {1, 16}, std::vector<double>(16, 2.0))}}));
  ASSERT_TRUE(b.finish().ok());
  ASSERT_TRUE(fc::write_mlpackage(pkg, p, {}).ok());
  const std::string model = pkg + "/Data/com.apple.CoreML/model.mlmodel";
  const std::string weights = pkg + "/Data/com.apple.CoreML/weights/weight.bin";
  const std::string good_model = read_file(model), good_weights = read_file(weights);
  auto write = [](const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  };
  write(model, good_model.substr(0, good_model.size() / 2));
  expect_error_contains(load_coreml(pkg).status(), {"model.mlmodel", "not a valid CoreML.Specification.Model"});
  write(model, good_model);
  std::string w = good_weights;
  w[64] = 'X';
  write(weights, w);
  expect_error_contains(load_coreml(pkg).status(), {"weight.bin", "offset 64", "bad sentinel"});
  write(weights, good_weights.substr(0, 100));
  expect_error_contains(load_coreml(pkg).status(), {"weight.bin", "offset 64", "out of range"});
  write(weights, good_weights);
  ASSERT_TRUE(load_coreml(pkg).ok());
  write(pkg + "/Manifest.json", "{\"fileFormatVersion\": \"1.0.0\", \"itemInfoEntries\": {}, \"rootModelIdentifier\": \"X\"}");
  expect_error_contains(load_coreml(pkg).status(), {"Manifest.json", "rootModelIdentifier X"});
  write(pkg + "/Manifest.json", "{\"fileFormatVersion\": \"2.0.0\"}");
  expect_error_contains(load_coreml(pkg).status(), {"Manifest.json", "2.0.0"});
  fs::remove_all(dir);
}

TEST(CoreMLPackage, MutatedModelBytesNeverCrashTheReader) {
  // A model with blob weights, immediates of several dtypes, a nested block-free multi-op body.
  mil::Program p = stateful_kv_program();
  {
    mil::Builder b(p, "extra", "ios18");
    auto x = b.input("x", Type::tensor(DType::kFp16, {2, 16}));
    std::vector<double> w(16 * 16);
    for (size_t i = 0; i < w.size(); ++i) w[i] = 0.01 * double(i % 17);
    auto y = b.op("linear", {{"x", x}, {"weight", Tensor::from_f64(DType::kFp16, {16, 16}, w)}});
    b.output(b.op("reshape", {{"x", y}, {"shape", testing::int32_vector({4, 8})}}));
    ASSERT_TRUE(b.finish().ok()) << b.status().message();
  }
  auto s = fc::serialize_model(p, {});
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_TRUE(s->weights.has_value());
  uint32_t rng = 12345;
  auto next = [&] { rng = rng * 1103515245u + 12345u; return rng >> 8; };
  int parsed = 0, rejected = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string m = s->model_bytes, w = *s->weights;
    std::string& target = (iter % 4 == 3) ? w : m;
    const int flips = 1 + int(next() % 4);
    for (int k = 0; k < flips; ++k) target[next() % target.size()] = char(next() & 0xff);
    if (iter % 7 == 0) target.resize(next() % target.size());
    auto reader = fc::BlobReader::open(std::make_shared<formats::ByteBuffer>(w), "weight.bin");
    if (!reader.ok()) { ++rejected; continue; }
    auto r = import_model_bytes(m, *reader, "model.mlmodel");
    if (!r.ok()) { ++rejected; continue; }
    ++parsed;
    (void)mil::verify(r->program);  // must not crash either
    fc::WriteOptions wo;
    wo.info = r->info;
    (void)fc::serialize_model(r->program, wo);
  }
  std::printf("mutations: %d parsed, %d rejected with an error\n", parsed, rejected);
  EXPECT_GT(rejected, 0);
}

}  // namespace
}  // namespace ironmill::frontends::coreml
