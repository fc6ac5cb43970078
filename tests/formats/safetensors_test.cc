// SafeTensors reader/writer: real checkpoints against an independent Python oracle
// (golden/safetensors/expected.json, made by make_expected.py), byte-exact round trips, shards, and
// every class of bad input.
#include "formats/safetensors/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "formats/mapped_file.h"

namespace ironmill::formats::safetensors {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kGolden = fs::path(IRONMILL_SOURCE_DIR) / "golden" / "safetensors";

uint64_t fnv1a64(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("ironmill_st_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A file from a header string and data bytes (length prefix computed).
std::string make_file(const std::string& header, const std::string& data) {
  std::string s(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(s.data(), &n, 8);
  return s + header + data;
}

Result<File> parse_bytes(const std::string& bytes, const ReadOptions& opts = {}) {
  return File::parse(std::make_shared<ByteBuffer>(bytes), "t.safetensors", opts);
}

// Expects a parse failure whose message contains every one of `parts`.
void expect_error(const std::string& bytes, std::initializer_list<std::string> parts, const ReadOptions& opts = {}) {
  auto r = parse_bytes(bytes, opts);
  ASSERT_FALSE(r.ok()) << "expected an error containing '" << *parts.begin() << "'";
  for (const auto& p : parts) EXPECT_NE(r.status().message().find(p), std::string::npos) << r.status().message();
  EXPECT_EQ(r.status().message().rfind("t.safetensors", 0), 0u)
      << "message must name the file: " << r.status().message();
}

std::string f32_bytes(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), std::data(v), s.size());
  return s;
}

// ---------------------------------------------------------------------------------------------
// Real checkpoints vs the Python oracle

TEST(SafeTensorsGolden, MatchesIndependentOracle) {
  const fs::path expected_path = kGolden / "expected.json";
  if (!fs::exists(expected_path)) GTEST_SKIP() << "SKIP: " << expected_path << " is missing";
  const json expected = json::parse(read_file(expected_path));
  ASSERT_EQ(expected.size(), 3u);
  for (const auto& [file_name, want] : expected.items()) {
    SCOPED_TRACE(file_name);
    auto file = File::open((kGolden / file_name).string());
    ASSERT_TRUE(file.ok()) << file.status().message();
    EXPECT_TRUE(file->warnings().empty());
    EXPECT_EQ(file->data_start(), 8 + want["header_bytes"].get<uint64_t>());
    EXPECT_EQ(file->metadata(), (want["metadata"].get<std::map<std::string, std::string>>()));
    ASSERT_EQ(file->tensors().size(), want["tensors"].size());
    for (const auto& [name, t] : want["tensors"].items()) {
      SCOPED_TRACE(name);
      const TensorInfo* info = file->find(name);
      ASSERT_NE(info, nullptr);
      EXPECT_EQ(to_safetensors_dtype(info->dtype).value(), t["dtype"].get<std::string>());
      EXPECT_EQ(info->shape, t["shape"].get<mil::Shape>());
      EXPECT_EQ(info->begin, t["data_offsets"][0].get<uint64_t>());
      EXPECT_EQ(info->end, t["data_offsets"][1].get<uint64_t>());
      auto tensor = file->tensor(name);
      ASSERT_TRUE(tensor.ok()) << tensor.status().message();
      // A view into the mapping, not a copy.
      EXPECT_EQ(tensor->raw(), file->buffer()->data() + file->data_start() + info->begin);
      char hex[17];
      std::snprintf(hex, sizeof hex, "%016llx",
                    static_cast<unsigned long long>(fnv1a64(tensor->raw(), tensor->nbytes())));
      EXPECT_EQ(std::string(hex), t["fnv1a64"].get<std::string>());
      double sum = 0;
      for (int64_t i = 0; i < tensor->numel(); ++i) sum += tensor->get_f64(i);
      const double want_sum = t["sum"].get<double>();
      EXPECT_NEAR(sum, want_sum, 1e-9 * (1 + std::fabs(want_sum)));
      EXPECT_EQ(tensor->get_f64(0), t["first"].get<double>());
      EXPECT_EQ(tensor->get_f64(tensor->numel() - 1), t["last"].get<double>());
    }
  }
}

TEST(SafeTensorsGolden, RewritingARealCheckpointReproducesItsBytes) {
  // Our writer uses the reference layout (largest dtype first, then name; "__metadata__" first;
  // compact JSON padded with spaces to 8), so re-serialising what we read gives the same file.
  for (const char* f :
       {"qwen3-bf16.safetensors", "llama-tied-gqa1-f16.safetensors", "llama-golden-f32-i32.safetensors"}) {
    SCOPED_TRACE(f);
    const fs::path p = kGolden / f;
    if (!fs::exists(p)) GTEST_SKIP() << "SKIP: " << p << " is missing";
    auto file = File::open(p.string());
    ASSERT_TRUE(file.ok()) << file.status().message();
    std::vector<NamedTensor> tensors;
    for (const auto& info : file->tensors()) tensors.push_back({info.name, file->tensor(info.name).value()});
    auto bytes = serialize(tensors, file->metadata());
    ASSERT_TRUE(bytes.ok()) << bytes.status().message();
    EXPECT_TRUE(*bytes == read_file(p)) << "re-serialised bytes differ from " << f;
  }
}

TEST(SafeTensorsGolden, LazySourceLoadsTheSameView) {
  const fs::path p = kGolden / "qwen3-bf16.safetensors";
  if (!fs::exists(p)) GTEST_SKIP() << "SKIP: " << p << " is missing";
  auto ck = Checkpoint::open(p.string());
  ASSERT_TRUE(ck.ok()) << ck.status().message();
  EXPECT_EQ(ck->tensor_names().size(), 25u);
  auto lazy = ck->lazy("lm_head.weight");
  ASSERT_TRUE(lazy.ok());
  EXPECT_EQ((*lazy)->describe(), p.string() + ":lm_head.weight");
  auto loaded = (*lazy)->load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->dtype(), mil::DType::kBf16);
  EXPECT_EQ(loaded->shape(), (mil::Shape{512, 64}));
  EXPECT_TRUE(loaded->identical(ck->tensor("lm_head.weight").value()));
  EXPECT_FALSE(ck->lazy("nope").ok());
  EXPECT_EQ(ck->tensor("nope").status().code(), ErrorCode::kNotFound);
}

// ---------------------------------------------------------------------------------------------
// Writer round trips

std::vector<NamedTensor> every_dtype_tensors() {
  std::vector<NamedTensor> ts;
  const std::vector<double> vals = {0.0, -1.5, 2.25, 100.0, -0.0, 7.0};
  for (mil::DType d : {mil::DType::kFp64, mil::DType::kFp32, mil::DType::kFp16, mil::DType::kBf16,
                       mil::DType::kFp8E4M3FN, mil::DType::kFp8E5M2}) {
    ts.push_back({"float_" + std::string(mil::dtype_name(d)), mil::Tensor::from_f64(d, {2, 3}, vals)});
  }
  const std::vector<int64_t> ints = {0, 1, -2, 3, 100, -7};
  for (mil::DType d : {mil::DType::kInt64, mil::DType::kInt32, mil::DType::kInt16, mil::DType::kInt8}) {
    ts.push_back({"int_" + std::string(mil::dtype_name(d)), mil::Tensor::from_i64(d, {3, 2}, ints)});
  }
  const std::vector<int64_t> uints = {0, 1, 2, 3, 200, 7};
  for (mil::DType d : {mil::DType::kUint64, mil::DType::kUint32, mil::DType::kUint16, mil::DType::kUint8}) {
    ts.push_back({"uint_" + std::string(mil::dtype_name(d)), mil::Tensor::from_i64(d, {6}, uints)});
  }
  ts.push_back({"mask", mil::Tensor::from_i64(mil::DType::kBool, {2, 2}, std::vector<int64_t>{1, 0, 0, 1})});
  ts.push_back({"scalar", mil::Tensor::scalar_f64(mil::DType::kFp32, 3.5)});
  ts.push_back({"empty", mil::Tensor(mil::DType::kFp32, {0, 4})});
  ts.push_back({"unicode \xc3\xa9\"quote\"", mil::Tensor::scalar_f64(mil::DType::kFp16, 1.0)});
  return ts;
}

TEST(SafeTensorsWriter, RoundTripsEveryDtype) {
  TempDir dir;
  const auto tensors = every_dtype_tensors();
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "round \"trip\""}};
  const std::string path = (dir.path() / "all.safetensors").string();
  ASSERT_TRUE(write(path, tensors, meta).ok());
  // Nothing but the destination is left in the directory (the temporary sibling was renamed).
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
  auto bytes = serialize(tensors, meta);
  ASSERT_TRUE(bytes.ok());
  EXPECT_TRUE(read_file(path) == *bytes);

  auto file = File::open(path);
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(file->metadata(), meta);
  EXPECT_EQ(file->data_start() % 8, 0u);
  ASSERT_EQ(file->tensors().size(), tensors.size());
  for (const auto& nt : tensors) {
    SCOPED_TRACE(nt.name);
    auto t = file->tensor(nt.name);
    ASSERT_TRUE(t.ok()) << t.status().message();
    EXPECT_TRUE(t->identical(nt.tensor)) << t->debug_string() << " vs " << nt.tensor.debug_string();
    // Natural alignment of every element type.
    const auto* info = file->find(nt.name);
    EXPECT_EQ((file->data_start() + info->begin) % std::max(1, mil::dtype_element_bytes(info->dtype)), 0u);
  }
}

TEST(SafeTensorsWriter, RejectsBadInput) {
  auto st = [](std::vector<NamedTensor> ts) { return serialize(ts).status(); };
  const mil::Tensor t = mil::Tensor::scalar_f64(mil::DType::kFp32, 1);
  EXPECT_NE(st({{"a", t}, {"a", t}}).message().find("duplicate tensor name 'a'"), std::string::npos);
  EXPECT_NE(st({{"", t}}).message().find("empty tensor name"), std::string::npos);
  EXPECT_NE(st({{"__metadata__", t}}).message().find("__metadata__"), std::string::npos);
  EXPECT_EQ(st({{"s", mil::Tensor::scalar_string("x")}}).code(), ErrorCode::kUnsupported);
  EXPECT_EQ(st({{"q", mil::Tensor(mil::DType::kInt4, {4})}}).code(), ErrorCode::kUnsupported);
  EXPECT_EQ(st({{"bad\xff", t}}).code(), ErrorCode::kInvalidArgument);  // invalid UTF-8 cannot be JSON
  TempDir dir;
  auto s = write((dir.path() / "no" / "such" / "dir" / "x.safetensors").string(), {{"a", t}});
  EXPECT_EQ(s.code(), ErrorCode::kIo);
}

TEST(SafeTensorsReader, MisalignedTensorsAreCopiedNotViewed) {
  // A header of odd length puts the F32 data at an odd address: the reader copies it.
  std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  while ((8 + header.size()) % 4 != 1) header += " ";  // the data starts at an odd offset

  auto file = parse_bytes(make_file(header, f32_bytes({1.5f, -2.0f})));
  ASSERT_TRUE(file.ok()) << file.status().message();
  auto t = file->tensor("w");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t->raw()) % 4, 0u);
  EXPECT_EQ(t->to_f64(), (std::vector<double>{1.5, -2.0}));
}

// ---------------------------------------------------------------------------------------------
// Sharded checkpoints

TEST(SafeTensorsCheckpoint, OpensShardsThroughTheIndex) {
  TempDir dir;
  const auto tensors = every_dtype_tensors();
  std::vector<NamedTensor> a(tensors.begin(), tensors.begin() + 7), b(tensors.begin() + 7, tensors.end());
  ASSERT_TRUE(write((dir.path() / "model-00001-of-00002.safetensors").string(), a).ok());
  ASSERT_TRUE(write((dir.path() / "model-00002-of-00002.safetensors").string(), b).ok());
  json index = {{"metadata", {{"total_size", 1234}}}, {"weight_map", json::object()}};
  for (const auto& t : a) index["weight_map"][t.name] = "model-00001-of-00002.safetensors";
  for (const auto& t : b) index["weight_map"][t.name] = "model-00002-of-00002.safetensors";
  std::ofstream(dir.path() / "model.safetensors.index.json") << index.dump();

  auto ck = Checkpoint::open(dir.path().string());  // the directory: finds the index
  ASSERT_TRUE(ck.ok()) << ck.status().message();
  EXPECT_EQ(ck->files().size(), 2u);
  EXPECT_EQ(ck->index_metadata().at("total_size"), "1234");
  EXPECT_EQ(ck->tensor_names().size(), tensors.size());
  EXPECT_TRUE(ck->warnings().empty());
  for (const auto& nt : tensors) {
    auto t = ck->tensor(nt.name);
    ASSERT_TRUE(t.ok()) << nt.name;
    EXPECT_TRUE(t->identical(nt.tensor)) << nt.name;
  }

  // A tensor the index does not map is ignored with a warning.
  json partial = index;
  partial["weight_map"].erase(a[0].name);
  std::ofstream(dir.path() / "partial.json") << partial.dump();
  auto ck2 = Checkpoint::open((dir.path() / "partial.json").string());
  ASSERT_TRUE(ck2.ok());
  EXPECT_EQ(ck2->tensor_names().size(), tensors.size() - 1);
  ASSERT_EQ(ck2->warnings().size(), 1u);
  EXPECT_NE(ck2->warnings()[0].find(a[0].name), std::string::npos);

  // Errors: a missing shard, a tensor not in its shard, a path leaving the directory, bad JSON.
  auto expect_index_error = [&](const json& j, const std::string& part) {
    std::ofstream(dir.path() / "bad.json") << j.dump();
    auto r = Checkpoint::open((dir.path() / "bad.json").string());
    ASSERT_FALSE(r.ok()) << part;
    EXPECT_NE(r.status().message().find(part), std::string::npos) << r.status().message();
  };
  json missing = index;
  missing["weight_map"][a[0].name] = "model-00009-of-00009.safetensors";
  expect_index_error(missing, "model-00009-of-00009.safetensors");
  json wrong = index;
  wrong["weight_map"][a[0].name] = "model-00002-of-00002.safetensors";
  expect_index_error(wrong, "has no such tensor");
  json escape = index;
  escape["weight_map"][a[0].name] = "../model-00001-of-00002.safetensors";
  expect_index_error(escape, "not a relative path inside");
  expect_index_error(json{{"metadata", json::object()}}, "missing \"weight_map\"");
  std::ofstream(dir.path() / "bad.json") << "{\"weight_map\": ";
  EXPECT_EQ(Checkpoint::open((dir.path() / "bad.json").string()).status().code(), ErrorCode::kParse);
  EXPECT_EQ(Checkpoint::open((dir.path() / "nothing_here").string()).status().code(), ErrorCode::kNotFound);
}

// ---------------------------------------------------------------------------------------------
// Bad inputs: each class gives an error that names the problem; nothing crashes.

const std::string kGoodHeader =
    R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})";
const std::string kGoodData = f32_bytes({1, 2, 3});

TEST(SafeTensorsBadInput, GoodFileParses) {
  auto f = parse_bytes(make_file(kGoodHeader, kGoodData));
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->tensors().size(), 2u);
}

TEST(SafeTensorsBadInput, TruncatedLengthField) {
  expect_error("", {"0 bytes, too short for the 8-byte header length"});
  expect_error("abc", {"3 bytes, too short"});
}

TEST(SafeTensorsBadInput, HeaderLengthPastEndOfFile) {
  std::string f = make_file(kGoodHeader, kGoodData);
  const uint64_t n = f.size();  // claims more than the whole file
  std::memcpy(f.data(), &n, 8);
  expect_error(f, {"header length " + std::to_string(n) + " exceeds the " + std::to_string(f.size() - 8) + " bytes"});
}

TEST(SafeTensorsBadInput, HeaderLengthOverTheLimit) {
  std::string f = make_file(kGoodHeader, kGoodData);
  const uint64_t n = 200'000'000;
  std::memcpy(f.data(), &n, 8);
  expect_error(f, {"header length 200000000 exceeds the limit of 100000000"});
  const uint64_t huge = ~0ull;
  std::memcpy(f.data(), &huge, 8);
  expect_error(f, {"exceeds the limit"});
  ReadOptions small;
  small.max_header_bytes = 16;
  expect_error(make_file(kGoodHeader, kGoodData), {"exceeds the limit of 16"}, small);
}

TEST(SafeTensorsBadInput, BadJson) {
  expect_error(make_file(R"({"a":{"dtype":"F32",)", ""), {"not valid JSON"});
  expect_error(make_file(R"({"a":1} trailing)", ""), {"not valid JSON"});
  expect_error(make_file(R"({"a\x01":{}})", ""), {"not valid JSON"});
  expect_error(make_file("{\"\xff\xfe\":{}}", ""), {"not valid JSON"});  // invalid UTF-8
  expect_error(make_file("[1,2,3]", ""), {"does not start with '{'"});
  expect_error(make_file("x", ""), {"too short for a JSON object"});
  expect_error(
      make_file(
          R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
          f32_bytes({1, 2})),
      {"duplicate key 'a'"});
  expect_error(make_file(R"({"a":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}})", f32_bytes({1})),
               {"duplicate key 'dtype'"});
}

TEST(SafeTensorsBadInput, BadEntries) {
  expect_error(make_file(R"({"w":[1,2]})", ""), {"tensor 'w'", "expected an object"});
  expect_error(make_file(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", f32_bytes({1})),
               {"tensor 'w'", "missing \"dtype\""});
  expect_error(make_file(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", f32_bytes({1})),
               {"tensor 'w'", "missing \"shape\""});
  expect_error(make_file(R"({"w":{"dtype":"F32","shape":[1]}})", f32_bytes({1})),
               {"tensor 'w'", "missing \"data_offsets\""});
  expect_error(make_file(R"({"w":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", f32_bytes({1})),
               {"\"dtype\" is a JSON number"});
  expect_error(make_file(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", f32_bytes({1})),
               {"tensor 'w'", "shape[0] = -1 is not a non-negative integer"});
  expect_error(make_file(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", f32_bytes({1})),
               {"shape[0] = 1.5"});
  expect_error(make_file(R"({"w":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})", f32_bytes({1})),
               {"\"shape\" is a JSON string"});
  expect_error(make_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", f32_bytes({1})),
               {"is not [begin, end]"});
  expect_error(make_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,-4]}})", f32_bytes({1})),
               {"is not [begin, end]"});
  expect_error(make_file(R"({"__metadata__":{"k":1}})", ""), {"__metadata__ 'k' is a JSON number, expected a string"});
  expect_error(make_file(R"({"__metadata__":[]})", ""), {"\"__metadata__\" is a JSON array"});
}

TEST(SafeTensorsBadInput, UnknownDtype) {
  auto r = parse_bytes(make_file(R"({"w":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}})", "x"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(r.status().message().find("t.safetensors: tensor 'w': unknown dtype 'F4' (supported: BOOL, U8"),
            std::string::npos)
      << r.status().message();
}

TEST(SafeTensorsBadInput, ShapeSizeMismatch) {
  expect_error(make_file(R"({"w":{"dtype":"F32","shape":[5,6],"data_offsets":[0,100]}})", std::string(100, '\0')),
               {"t.safetensors: tensor 'w' data_offsets [0, 100] but dtype F32 shape [5, 6] needs 120 bytes"});
  expect_error(make_file(R"({"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,8]}})", std::string(8, '\0')),
               {"dtype BF16 shape [3] needs 6 bytes"});
  // Dimensions whose product overflows 64 bits.
  expect_error(
      make_file(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", std::string(8, '\0')),
      {"tensor 'w': shape [4294967296, 4294967296] of dtype F32 has a byte size that overflows 64 bits"});
  // ... unless a dimension is zero.
  auto ok = parse_bytes(make_file(R"({"w":{"dtype":"F32","shape":[0,9223372036854775807],"data_offsets":[0,0]}})", ""));
  EXPECT_TRUE(ok.ok()) << ok.status().message();
}

TEST(SafeTensorsBadInput, OffsetsOutOfRange) {
  expect_error(make_file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})", f32_bytes({1, 2})),
               {"tensor 'w' data_offsets [0, 12] ends past the data region of 8 bytes"});
  expect_error(make_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", f32_bytes({1, 2})),
               {"tensor 'w' data_offsets [8, 4] has begin > end"});
  expect_error(
      make_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551615,18446744073709551619]}})", ""),
      {"is not [begin, end]"});  // beyond u64: a JSON float
}

TEST(SafeTensorsBadInput, Overlap) {
  expect_error(
      make_file(
          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
          f32_bytes({1, 2, 3})),
      {"tensor 'b' data_offsets [4, 12] overlaps tensor 'a' data_offsets [0, 8]"});
  expect_error(
      make_file(
          R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
          f32_bytes({1})),
      {"overlaps tensor"});
}

TEST(SafeTensorsBadInput, GapsAreErrorsUnlessAllowed) {
  const std::string gap = make_file(
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
      f32_bytes({1, 2, 3}));
  expect_error(gap, {"4 unreferenced bytes at data offsets [4, 8] before tensor 'b'"});
  const std::string trailing =
      make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", f32_bytes({1, 2}));
  expect_error(trailing, {"4 unreferenced bytes at the end of the data region [4, 8]"});
  ReadOptions lax;
  lax.allow_gaps = true;
  for (const auto& bytes : {gap, trailing}) {
    auto f = parse_bytes(bytes, lax);
    ASSERT_TRUE(f.ok()) << f.status().message();
    ASSERT_EQ(f->warnings().size(), 1u);
    EXPECT_NE(f->warnings()[0].find("unreferenced bytes"), std::string::npos);
  }
  auto f = parse_bytes(gap, lax);
  EXPECT_EQ(f->tensor("b")->to_f64(), std::vector<double>{3.0});
}

TEST(SafeTensorsBadInput, UnknownEntryKeysAreWarnings) {
  auto f =
      parse_bytes(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":true}})", f32_bytes({1})));
  ASSERT_TRUE(f.ok()) << f.status().message();
  ASSERT_EQ(f->warnings().size(), 1u);
  EXPECT_NE(f->warnings()[0].find("ignoring unknown key 'extra'"), std::string::npos);
}

TEST(SafeTensorsBadInput, GarbageAndTruncationNeverCrash) {
  const std::string good = make_file(kGoodHeader, kGoodData);
  // Every truncation of a valid file fails with a message naming the file.
  for (size_t n = 0; n < good.size(); ++n) {
    auto r = parse_bytes(good.substr(0, n));
    ASSERT_FALSE(r.ok()) << "truncated at " << n;
    EXPECT_EQ(r.status().message().rfind("t.safetensors: ", 0), 0u);
  }
  // Random bytes, and random corruptions of a valid file: either a clean error or a file whose
  // tensors all load.
  std::mt19937_64 rng(1234);
  int parsed = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string bytes;
    if (iter % 3 == 0) {
      bytes.resize(rng() % 200);
      for (char& c : bytes) c = static_cast<char>(rng());
      if (iter % 2 == 0 && bytes.size() >= 8) {  // a plausible length field
        const uint64_t n = rng() % bytes.size();
        std::memcpy(bytes.data(), &n, 8);
      }
    } else {
      bytes = good;
      for (int k = 0, m = 1 + static_cast<int>(rng() % 4); k < m; ++k)
        bytes[rng() % bytes.size()] = static_cast<char>(rng());
    }
    auto r = parse_bytes(bytes);
    if (!r.ok()) {
      EXPECT_FALSE(r.status().message().empty());
      continue;
    }
    ++parsed;
    for (const auto& t : r->tensors()) {
      auto v = r->tensor(t.name);
      ASSERT_TRUE(v.ok()) << v.status().message();
      EXPECT_EQ(v->nbytes(), t.nbytes());
    }
  }
  EXPECT_GT(parsed, 0);  // some corruptions only touch tensor data
}

}  // namespace
}  // namespace ironmill::formats::safetensors
