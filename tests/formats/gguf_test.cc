// GGUF reader/writer round trips, quantization sanity from the block formulas (anchors.md §1.1.2),
// and every class of bad input. Bit-exactness against llama.cpp itself is in
// oracle/gguf_ggml_oracle_test.cc (needs ci/setup_peers.sh).
#include "formats/gguf/gguf.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "formats/gguf/quants.h"
#include "formats/mapped_file.h"

namespace ironmill::formats::gguf {
namespace {

namespace fs = std::filesystem;

Result<File> parse_bytes(const std::string& bytes, const ReadOptions& opts = {}) {
  return File::parse(std::make_shared<ByteBuffer>(bytes), "m.gguf", opts);
}

void expect_error(const std::string& bytes, std::initializer_list<std::string> parts, const ReadOptions& opts = {}) {
  auto r = parse_bytes(bytes, opts);
  ASSERT_FALSE(r.ok()) << "expected an error containing '" << *parts.begin() << "'";
  for (const auto& p : parts) EXPECT_NE(r.status().message().find(p), std::string::npos) << r.status().message();
  EXPECT_EQ(r.status().message().rfind("m.gguf: ", 0), 0u) << r.status().message();
}

// Hand-assembled GGUF bytes, for inputs our writer refuses to produce.
class Raw {
 public:
  Raw& bytes(const std::string& s) {
    s_ += s;
    return *this;
  }
  template <class T>
  Raw& put(T v) {
    s_.append(reinterpret_cast<const char*>(&v), sizeof v);
    return *this;
  }
  Raw& u32(uint32_t v) { return put(v); }
  Raw& u64(uint64_t v) { return put(v); }
  Raw& str(const std::string& s) {
    u64(s.size());
    return bytes(s);
  }
  Raw& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return bytes("GGUF").u32(version).u64(n_tensors).u64(n_kv);
  }
  Raw& kv_u32(const std::string& k, uint32_t v) { return str(k).u32(4).u32(v); }
  Raw& tensor(const std::string& name, std::vector<int64_t> ne, uint32_t type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(ne.size()));
    for (int64_t d : ne) put(d);
    return u32(type).u64(offset);
  }
  Raw& pad(size_t a) {
    s_.append((a - s_.size() % a) % a, '\0');
    return *this;
  }
  Raw& zeros(size_t n) {
    s_.append(n, '\0');
    return *this;
  }
  const std::string& s() const { return s_; }

 private:
  std::string s_;
};

// ---------------------------------------------------------------------------------------------
// Round trips

Writer full_writer(uint32_t version, uint32_t alignment, std::vector<mil::Tensor>* plain) {
  Writer w(version);
  EXPECT_TRUE(w.set("general.architecture", Value::str("llama")).ok());
  EXPECT_TRUE(w.set("general.alignment", Value::u32(alignment)).ok());
  EXPECT_TRUE(w.set("v.u8", Value::u8(255)).ok());
  EXPECT_TRUE(w.set("v.i8", Value::i8(-128)).ok());
  EXPECT_TRUE(w.set("v.u16", Value::u16(65535)).ok());
  EXPECT_TRUE(w.set("v.i16", Value::i16(-32768)).ok());
  EXPECT_TRUE(w.set("v.u32", Value::u32(0xFFFFFFFFu)).ok());
  EXPECT_TRUE(w.set("v.i32", Value::i32(INT32_MIN)).ok());
  EXPECT_TRUE(w.set("v.f32", Value::f32(std::nanf(""))).ok());
  EXPECT_TRUE(w.set("v.bool", Value::boolean(false)).ok());
  EXPECT_TRUE(w.set("v.str", Value::str(std::string("with\0nul", 8))).ok());
  EXPECT_TRUE(w.set("v.u64", Value::u64(UINT64_MAX)).ok());
  EXPECT_TRUE(w.set("v.i64", Value::i64(INT64_MIN)).ok());
  EXPECT_TRUE(w.set("v.f64", Value::f64(-0.0)).ok());
  EXPECT_TRUE(w.set("tokenizer.ggml.tokens", Value::strings({"<s>", "</s>", "hello", ""})).ok());
  EXPECT_TRUE(w.set("tokenizer.ggml.scores", Value::f32s({0.f, -1.5f, 2.f, 1e30f})).ok());
  EXPECT_TRUE(w.set("tokenizer.ggml.token_type", Value::i32s({3, 3, 1, 5})).ok());
  EXPECT_TRUE(w.set("v.nested", Value::array(ValueType::kArray,
                                             {Value::strings({"a", "b"}), Value::strings({}), Value::strings({"c"})}))
                  .ok());
  EXPECT_TRUE(
      w.set("v.deep", Value::array(ValueType::kArray, {Value::array(ValueType::kArray, {Value::f32s({1.f, 2.f})})}))
          .ok());
  EXPECT_TRUE(w.set("v.u64s", Value::array(ValueType::kUint64, {Value::u64(1), Value::u64(UINT64_MAX)})).ok());
  EXPECT_TRUE(w.set("v.empty", Value::array(ValueType::kString, {})).ok());
  // Plain tensors of every GGUF dtype that maps to MIL.
  const std::vector<double> vals = {1.5, -2.0, 0.25, 8.0, -0.5, 3.0};
  for (mil::DType d : {mil::DType::kFp32, mil::DType::kFp16, mil::DType::kBf16, mil::DType::kFp64, mil::DType::kInt8,
                       mil::DType::kInt16, mil::DType::kInt32, mil::DType::kInt64}) {
    plain->push_back(mil::Tensor::from_f64(d, {2, 3}, vals));
    EXPECT_TRUE(w.add_tensor("p." + std::string(mil::dtype_name(d)), plain->back()).ok());
  }
  plain->push_back(mil::Tensor::scalar_f64(mil::DType::kFp32, 7));
  EXPECT_TRUE(w.add_tensor("p.scalar", plain->back()).ok());
  plain->push_back(mil::Tensor(mil::DType::kFp32, {0, 5}));
  EXPECT_TRUE(w.add_tensor("p.empty", plain->back()).ok());
  // Quantized tensors.
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  std::vector<float> x(512);
  for (auto& v : x) v = nd(rng);
  for (GgmlType t : {GgmlType::kQ4_0, GgmlType::kQ8_0, GgmlType::kQ4_K, GgmlType::kQ6_K}) {
    std::vector<uint8_t> q(ggml_row_size(t, 512));
    EXPECT_TRUE(quantize(t, x.data(), q.data(), 1, 512).ok());
    EXPECT_TRUE(w.add_tensor("q." + std::string(ggml_type_name(t)), t, {256, 2}, q).ok());
  }
  return w;
}

class TempFile {
 public:
  explicit TempFile(const std::string& stem)
      : path_(fs::temp_directory_path() / (stem + "_" + std::to_string(::getpid()) + ".gguf")) {}
  ~TempFile() { fs::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  fs::path path_;
};

TEST(GgufRoundTrip, EveryValueTypeAndTensorType) {
  for (uint32_t version : {2u, 3u}) {
    for (uint32_t alignment : {1u, 8u, 32u, 4096u}) {
      SCOPED_TRACE("v" + std::to_string(version) + " align " + std::to_string(alignment));
      std::vector<mil::Tensor> plain;
      Writer w = full_writer(version, alignment, &plain);
      TempFile tmp("ironmill_gguf_rt");
      ASSERT_TRUE(w.write(tmp.path()).ok());
      auto bytes = w.serialize();
      ASSERT_TRUE(bytes.ok());
      auto f = File::open(tmp.path());
      ASSERT_TRUE(f.ok()) << f.status().message();
      EXPECT_EQ(f->buffer()->size(), bytes->size());
      EXPECT_EQ(std::memcmp(f->buffer()->data(), bytes->data(), bytes->size()), 0);
      EXPECT_EQ(f->version(), version);
      EXPECT_EQ(f->alignment(), alignment);
      EXPECT_EQ(f->data_offset() % alignment, 0u);
      // Metadata: same keys, order and values (floats by bits, so the NaN survives).
      auto parsed_kv = f->metadata();
      ASSERT_EQ(parsed_kv.size(), 21u);
      std::vector<mil::Tensor> unused;
      Writer reference = full_writer(version, alignment, &unused);
      auto ref = parse_bytes(*reference.serialize());
      ASSERT_TRUE(ref.ok());
      for (size_t i = 0; i < parsed_kv.size(); ++i) {
        EXPECT_EQ(parsed_kv[i].first, ref->metadata()[i].first);
        EXPECT_TRUE(parsed_kv[i].second == ref->metadata()[i].second) << parsed_kv[i].first;
      }
      EXPECT_EQ(*f->get_string("v.str"), std::string("with\0nul", 8));
      EXPECT_EQ(*f->get_uint("v.u64"), UINT64_MAX);
      EXPECT_EQ(*f->get_float("v.i16"), -32768.0);
      EXPECT_EQ((*f->get_array("tokenizer.ggml.tokens"))->items.size(), 4u);
      EXPECT_FALSE(f->get_uint("v.i8").ok());  // negative
      EXPECT_EQ(f->get_string("v.u8").status().code(), ErrorCode::kInvalidArgument);
      EXPECT_EQ(f->get_string("missing").status().code(), ErrorCode::kNotFound);
      const Array* deep = (*f->get_array("v.deep"));
      ASSERT_EQ(deep->type, ValueType::kArray);
      EXPECT_EQ(deep->items[0].as_array()->items[0].as_array()->items[1], Value::f32(2.f));

      // Plain tensors come back identical, as views when aligned.
      size_t i = 0;
      for (const auto& t : f->tensors()) {
        if (t.name.rfind("p.", 0) != 0) continue;
        SCOPED_TRACE(t.name);
        auto v = f->tensor(t.name);
        ASSERT_TRUE(v.ok()) << v.status().message();
        EXPECT_TRUE(v->identical(plain[i])) << v->debug_string() << " vs " << plain[i].debug_string();
        if (alignment >= 8) {
          EXPECT_EQ(v->raw(), f->buffer()->data() + f->data_offset() + t.offset);  // no copy
        }
        auto d = f->dequantize(t.name);
        if (t.type == GgmlType::kF32 || t.type == GgmlType::kF16 || t.type == GgmlType::kBF16) {
          ASSERT_TRUE(d.ok());
          EXPECT_EQ(d->to_f64(), plain[i].to_f64());
        } else {
          EXPECT_EQ(d.status().code(), ErrorCode::kUnsupported);
        }
        ++i;
      }
      EXPECT_EQ(i, plain.size());
      // Quantized tensors: no view, but dequantize() and lazy() give fp32 [2, 256].
      auto q = f->tensor("q.q4_K");
      EXPECT_EQ(q.status().code(), ErrorCode::kUnsupported);
      auto lazy = f->lazy("q.q6_K");
      ASSERT_TRUE(lazy.ok());
      EXPECT_EQ((*lazy)->describe(), tmp.path() + ":q.q6_K");
      auto loaded = (*lazy)->load();
      ASSERT_TRUE(loaded.ok());
      EXPECT_EQ(loaded->dtype(), mil::DType::kFp32);
      EXPECT_EQ(loaded->shape(), (mil::Shape{2, 256}));
      const TensorInfo* info = f->find_tensor("q.q8_0");
      ASSERT_NE(info, nullptr);
      EXPECT_EQ(info->nbytes, 2u * 8 * 34);
      EXPECT_EQ(info->shape(), (mil::Shape{2, 256}));
    }
  }
}

TEST(GgufRoundTrip, WriterRejectsInvalidContent) {
  Writer w;
  EXPECT_FALSE(w.set("", Value::u8(1)).ok());
  EXPECT_FALSE(w.set(std::string(65536, 'k'), Value::u8(1)).ok());
  EXPECT_NE(w.set("general.alignment", Value::u64(32)).message().find("must be u32"), std::string::npos);
  EXPECT_NE(w.set("general.alignment", Value::u32(48)).message().find("not a power of 2"), std::string::npos);
  EXPECT_FALSE(w.set("a", Value::array(ValueType::kUint8, {Value::u16(1)})).ok());  // element type mismatch
  std::vector<uint8_t> q(18);
  EXPECT_NE(w.add_tensor("q", GgmlType::kQ4_0, {16}, q).message().find("not a multiple of the block size 32"),
            std::string::npos);
  EXPECT_NE(w.add_tensor("q", GgmlType::kQ4_0, {32}, std::vector<uint8_t>(17)).message().find("needs 18"),
            std::string::npos);
  EXPECT_TRUE(w.add_tensor("q", GgmlType::kQ4_0, {32}, q).ok());
  EXPECT_NE(w.add_tensor("q", GgmlType::kQ4_0, {32}, q).message().find("duplicate tensor name 'q'"), std::string::npos);
  EXPECT_FALSE(w.add_tensor(std::string(64, 'n'), GgmlType::kQ4_0, {32}, q).ok());
  EXPECT_FALSE(w.add_tensor("five", GgmlType::kF32, {1, 1, 1, 1, 1}, std::vector<uint8_t>(4)).ok());
  EXPECT_FALSE(w.set("general.alignment", Value::u32(64)).ok());  // after tensors
  EXPECT_EQ(w.add_tensor("s", mil::Tensor::scalar_string("x")).code(), ErrorCode::kUnsupported);
  EXPECT_FALSE(Writer(1).serialize().ok());
  // Replacing a key keeps its position.
  Writer r;
  ASSERT_TRUE(r.set("a", Value::u8(1)).ok());
  ASSERT_TRUE(r.set("b", Value::u8(2)).ok());
  ASSERT_TRUE(r.set("a", Value::str("x")).ok());
  auto f = parse_bytes(*r.serialize());
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->metadata()[0].first, "a");
  EXPECT_EQ(*f->metadata()[0].second.as_string(), "x");
}

// ---------------------------------------------------------------------------------------------
// Quantization sanity from the documented block formulas (the bit-exact check is the oracle test).

uint16_t h(float f) { return ggml_fp32_to_fp16(f); }

TEST(GgufQuants, HandBuiltBlocksDecodeByTheFormulas) {
  // Q4_0: y[j] = d*((qs[j]&0xF)-8), y[j+16] = d*((qs[j]>>4)-8).
  uint8_t q40[18];
  const uint16_t d = h(0.5f);
  std::memcpy(q40, &d, 2);
  for (int j = 0; j < 16; ++j) q40[2 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float y[256];
  ASSERT_TRUE(dequantize_row(GgmlType::kQ4_0, q40, y, 32).ok());
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.5f * (j - 8));
    EXPECT_EQ(y[j + 16], 0.5f * (15 - j - 8));
  }
  // Q8_0: y = d*qs.
  uint8_t q80[34];
  std::memcpy(q80, &d, 2);
  for (int j = 0; j < 32; ++j) q80[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(j - 16));
  ASSERT_TRUE(dequantize_row(GgmlType::kQ8_0, q80, y, 32).ok());
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 0.5f * (j - 16));
  // Q4_K: sub-block pair (2i, 2i+1) takes the low then the high nibbles of 32 bytes; scales for
  // j < 4 are scales[j] & 63 and mins scales[j+4] & 63.
  uint8_t q4k[144] = {};
  const uint16_t one = h(1.f), half = h(0.5f);
  std::memcpy(q4k, &one, 2);
  std::memcpy(q4k + 2, &half, 2);
  q4k[4 + 0] = 2;  // sc0
  q4k[4 + 1] = 3;  // sc1
  q4k[4 + 4] = 4;  // m0
  q4k[4 + 5] = 1;  // m1
  for (int l = 0; l < 32; ++l) q4k[16 + l] = static_cast<uint8_t>((l % 16) | (((l + 1) % 16) << 4));
  ASSERT_TRUE(dequantize_row(GgmlType::kQ4_K, q4k, y, 256).ok());
  for (int l = 0; l < 32; ++l) {
    EXPECT_EQ(y[l], 1.f * 2 * (l % 16) - 0.5f * 4) << l;
    EXPECT_EQ(y[32 + l], 1.f * 3 * ((l + 1) % 16) - 0.5f * 1) << l;
  }
  // Q6_K: q1 = (ql[l]&0xF) | ((qh[l]&3)<<4), minus 32, times d*scales[l/16].
  uint8_t q6k[210] = {};
  for (int l = 0; l < 32; ++l) {
    q6k[l] = static_cast<uint8_t>(l & 0xF);
    q6k[128 + l] = static_cast<uint8_t>((l >> 4) & 3);
  }
  q6k[192 + 0] = 3;
  q6k[192 + 1] = static_cast<uint8_t>(-2);
  std::memcpy(q6k + 208, &half, 2);
  ASSERT_TRUE(dequantize_row(GgmlType::kQ6_K, q6k, y, 256).ok());
  for (int l = 0; l < 32; ++l)
    EXPECT_EQ(y[l], 0.5f * (l < 16 ? 3 : -2) * ((l & 0xF) + (((l >> 4) & 3) << 4) - 32)) << l;
}

TEST(GgufQuants, QuantizeThenDequantizeIsClose) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd;
  const int64_t n = 4096;
  std::vector<float> x(n);
  for (auto& v : x) v = nd(rng);
  // Relative RMS error bounds, well above what each format achieves on N(0, 1).
  const std::pair<GgmlType, double> cases[] = {{GgmlType::kQ8_0, 0.01}, {GgmlType::kQ6_K, 0.03},
                                               {GgmlType::kQ4_K, 0.12}, {GgmlType::kQ4_0, 0.15},
                                               {GgmlType::kF16, 0.001}, {GgmlType::kBF16, 0.005}};
  for (auto [t, bound] : cases) {
    SCOPED_TRACE(std::string(ggml_type_name(t)));
    std::vector<uint8_t> q(ggml_row_size(t, n));
    auto written = quantize(t, x.data(), q.data(), 4, n / 4);
    ASSERT_TRUE(written.ok());
    EXPECT_EQ(*written, q.size());
    std::vector<float> y(n);
    ASSERT_TRUE(dequantize_row(t, q.data(), y.data(), n).ok());
    double err = 0, ref = 0;
    for (int64_t i = 0; i < n; ++i) {
      err += (y[i] - x[i]) * (y[i] - x[i]);
      ref += x[i] * x[i];
    }
    EXPECT_LT(std::sqrt(err / ref), bound);
  }
  // Unsupported and malformed requests are errors, not crashes.
  std::vector<uint8_t> buf(1024);
  EXPECT_EQ(quantize(GgmlType::kQ2_K, x.data(), buf.data(), 1, 256).status().code(), ErrorCode::kUnsupported);
  EXPECT_EQ(quantize(GgmlType::kQ4_0, x.data(), buf.data(), 1, 33).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(dequantize_row(GgmlType::kIQ2_XXS, buf.data(), x.data(), 256).code(), ErrorCode::kUnsupported);
  EXPECT_EQ(dequantize_row(GgmlType::kQ4_K, buf.data(), x.data(), 100).code(), ErrorCode::kInvalidArgument);
  // All-zero input gives all-zero blocks that decode to zeros.
  std::vector<float> zeros(256, 0.f), back(256, 1.f);
  for (GgmlType t : {GgmlType::kQ4_0, GgmlType::kQ8_0, GgmlType::kQ4_K, GgmlType::kQ6_K}) {
    ASSERT_TRUE(quantize(t, zeros.data(), buf.data(), 1, 256).ok());
    ASSERT_TRUE(dequantize_row(t, buf.data(), back.data(), 256).ok());
    for (float v : back) EXPECT_EQ(v, 0.f) << ggml_type_name(t);
  }
}

// ---------------------------------------------------------------------------------------------
// Bad inputs

std::string small_file() {
  std::vector<mil::Tensor> plain;
  Writer w;
  EXPECT_TRUE(w.set("general.architecture", Value::str("llama")).ok());
  EXPECT_TRUE(w.set("arr", Value::strings({"x", "yz"})).ok());
  EXPECT_TRUE(w.add_tensor("a", mil::Tensor::from_f64(mil::DType::kFp32, {3}, std::vector<double>{1, 2, 3})).ok());
  EXPECT_TRUE(w.add_tensor("b", GgmlType::kQ8_0, {32}, std::vector<uint8_t>(34, 1)).ok());
  return *w.serialize();
}

TEST(GgufBadInput, TruncatedAtEveryOffset) {
  const std::string good = small_file();
  auto full = parse_bytes(good);
  ASSERT_TRUE(full.ok());
  const TensorInfo& last = full->tensors().back();
  const uint64_t last_end = full->data_offset() + last.offset + last.nbytes;
  for (size_t n = 0; n < good.size(); ++n) {
    auto r = parse_bytes(good.substr(0, n));
    if (n >= last_end) {  // only the trailing padding is missing: still a complete file
      EXPECT_TRUE(r.ok()) << n;
      continue;
    }
    ASSERT_FALSE(r.ok()) << "accepted a file truncated at " << n;
    const std::string& m = r.status().message();
    EXPECT_TRUE(m.find("offset ") != std::string::npos || m.find("runs past the end of the file") != std::string::npos)
        << m;
  }
  expect_error("", {"offset 0: file truncated: magic needs 4 bytes, only 0 remain"});
  expect_error(good.substr(0, 20), {"offset 16: file truncated: n_kv needs 8 bytes, only 4 remain"});
}

TEST(GgufBadInput, MagicAndVersion) {
  expect_error(Raw().bytes("GGML").u32(3).u64(0).u64(0).s(), {"offset 0: invalid magic 'GGML', expected 'GGUF'"});
  expect_error(Raw().bytes("\x01\x02GU").u32(3).u64(0).u64(0).s(), {"invalid magic '??GU'"});
  expect_error(Raw().header(0, 0, 1).s(), {"offset 4: GGUF version 1 is no longer supported"});
  expect_error(Raw().header(0, 0, 0).s(), {"bad GGUF version 0"});
  expect_error(Raw().header(0, 0, 4).s(), {"GGUF version 4 is newer than supported"});
  expect_error(Raw().header(0, 0, 0x03000000).s(), {"probably big-endian"});
  EXPECT_TRUE(parse_bytes(Raw().header(0, 0, 2).s()).ok());
  EXPECT_TRUE(parse_bytes(Raw().header(0, 0, 3).s()).ok());
}

TEST(GgufBadInput, AbsurdCounts) {
  expect_error(Raw().header(1ull << 60, 0).s(),
               {"offset 8: n_tensors = 1152921504606846976 tensor infos cannot fit in the 0 remaining bytes"});
  expect_error(Raw().header(0, ~0ull).s(), {"offset 16: n_kv = 18446744073709551615 key-value pairs cannot fit"});
  expect_error(Raw().header(0, 2).kv_u32("a", 1).s(),
               {"offset 16: n_kv = 2 key-value pairs cannot fit in the 17 remaining bytes"});
  expect_error(Raw().header(0, 2).kv_u32("a", 1).zeros(9).s(), {"offset 41: key #1 is empty"});
  // An array claiming more elements than the file could hold.
  expect_error(Raw().header(0, 1).str("arr").u32(9).u32(4).u64(1ull << 40).s(),
               {"value of key 'arr' has 1099511627776 elements", "over the limit"});
  expect_error(Raw().header(0, 1).str("arr").u32(9).u32(10).u64(1000).zeros(16).s(),
               {"value of key 'arr' has 1000 elements of type u64, which cannot fit in the 16 remaining bytes"});
}

TEST(GgufBadInput, Strings) {
  expect_error(Raw().header(0, 1).str("k").u32(8).u64(100).bytes("short").s(),
               {"offset 37: value of key 'k' has length 100 but only 5 bytes remain"});
  expect_error(Raw().header(0, 1).str("k").u32(8).u64((1ull << 30) + 1).zeros(16).s(), {"over the 1 GiB limit"});
  expect_error(Raw().header(0, 1).u64(1000).bytes("key").zeros(10).s(),
               {"offset 24: key #0 has length 1000 but only 13 bytes remain"});
  expect_error(Raw().header(1, 0).u64(~0ull).zeros(24).s(),
               {"offset 24: name of tensor #0 has length 18446744073709551615"});
}

TEST(GgufBadInput, Keys) {
  expect_error(Raw().header(0, 1).str("").u32(4).u32(1).s(), {"offset 24: key #0 is empty"});
  expect_error(Raw().header(0, 2).kv_u32("a.b", 1).kv_u32("a.b", 2).s(), {"duplicate key 'a.b' (key #1)"});
  expect_error(Raw().header(0, 1).str(std::string(65536, 'k')).u32(4).u32(1).s(), {"key #0 is 65536 bytes long"});
}

TEST(GgufBadInput, ValueTypes) {
  expect_error(Raw().header(0, 1).str("k").u32(13).u32(0).s(),
               {"offset 33: key 'k' has invalid value type 13 (valid: 0..12)"});
  expect_error(Raw().header(0, 1).str("k").u32(0xFFFFFFFF).s(), {"invalid value type 4294967295"});
  expect_error(Raw().header(0, 1).str("k").u32(9).u32(99).u64(0).s(),
               {"element type of value of key 'k' has invalid value type 99"});
  expect_error(Raw().header(0, 1).str("k").u32(7).put<uint8_t>(2).s(),
               {"value of key 'k' is a bool with byte value 2"});
  expect_error(Raw().header(0, 1).str("k").u32(9).u32(7).u64(2).put<uint8_t>(1).put<uint8_t>(9).s(),
               {"value of key 'k'[1] is a bool with byte value 9"});
  // Nesting deeper than kMaxArrayNesting.
  Raw deep;
  deep.header(0, 1).str("k").u32(9);
  for (int i = 0; i < 20; ++i) deep.u32(9).u64(1);
  expect_error(deep.zeros(16).s(), {"nests arrays more than 8 levels deep"});
}

TEST(GgufBadInput, Alignment) {
  expect_error(Raw().header(0, 1).str("general.alignment").u32(10).u64(32).s(),
               {"key 'general.alignment' must be of type u32 but is u64"});
  expect_error(Raw().header(0, 1).kv_u32("general.alignment", 48).s(), {"general.alignment 48 is not a power of 2"});
  expect_error(Raw().header(0, 1).kv_u32("general.alignment", 0).s(), {"general.alignment 0 is not a power of 2"});
}

TEST(GgufBadInput, TensorInfos) {
  auto one = [](const std::string& name, std::vector<int64_t> ne, uint32_t type, uint64_t offset = 0,
                size_t data = 64) { return Raw().header(1, 0).tensor(name, ne, type, offset).pad(32).zeros(data).s(); };
  expect_error(one(std::string(64, 'n'), {4}, 0),
               {"offset 24: tensor #0 name 'nnnn", "is 64 bytes; ggml allows at most 63"});
  EXPECT_TRUE(parse_bytes(one(std::string(63, 'n'), {4}, 0)).ok());
  expect_error(Raw().header(2, 0).tensor("t", {4}, 0, 0).tensor("t", {4}, 0, 32).pad(32).zeros(64).s(),
               {"duplicate tensor name 't' (tensor #1)"});
  expect_error(Raw().header(1, 0).str("t").u32(5).zeros(16).s(),
               {"offset 33: tensor 't' has 5 dimensions, more than 4"});
  expect_error(one("t", {4, -2}, 0), {"tensor 't' dimension 1 has -2 elements (< 0)"});
  expect_error(one("t", {1ll << 40, 1ll << 40}, 0),
               {"tensor 't' with shape (1099511627776, 1099511627776) has more than INT64_MAX elements"});
  expect_error(one("t", {4}, 4), {"tensor 't' has invalid ggml type 4 (an id removed from ggml)"});
  expect_error(one("t", {4}, 99), {"tensor 't' has invalid ggml type 99 (valid ids are below 43)"});
  expect_error(one("t", {48, 2}, 2),
               {"tensor 't' of type q4_0 has 48 elements per row, not a multiple of the block size 32"});
  expect_error(one("t", {1ll << 31, 1ll << 31}, 28),
               {"tensor 't' with shape (2147483648, 2147483648) of type f64 has a byte size over INT64_MAX"});
  EXPECT_TRUE(parse_bytes(one("t", {0, 5}, 0)).ok());  // zero elements are fine
  EXPECT_TRUE(parse_bytes(one("t", {}, 0)).ok());      // 0 dims: a scalar
}

TEST(GgufBadInput, TensorPlacement) {
  // Misaligned, overlapping, gapped and out-of-file tensor data.
  expect_error(Raw().header(1, 0).tensor("t", {4}, 0, 4).pad(32).zeros(64).s(),
               {"tensor 't' has data offset 4, not a multiple of the alignment 32"});
  const std::string overlap = Raw().header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {4}, 0, 32).pad(32).zeros(128).s();
  expect_error(overlap, {"tensor 'b' has data offset 32, expected 64 (it overlaps the previous tensor's padded data)"});
  ReadOptions lax;
  lax.require_packed = false;
  expect_error(overlap, {"tensor 'b' data [32, 48) overlaps tensor 'a' data [0, 64)"}, lax);
  const std::string gap = Raw().header(2, 0).tensor("a", {4}, 0, 0).tensor("b", {4}, 0, 64).pad(32).zeros(128).s();
  expect_error(gap, {"tensor 'b' has data offset 64, expected 32 (there is a gap before it)"});
  EXPECT_TRUE(parse_bytes(gap, lax).ok());
  expect_error(Raw().header(1, 0).tensor("t", {64}, 0, 0).pad(32).zeros(100).s(),
               {"tensor 't' data [64, 320) (256 bytes at data offset 0) runs past the end of the file (size 164)"});
  expect_error(Raw().header(1, 0).tensor("t", {4}, 0, ~0ull & ~31ull).pad(32).zeros(16).s(),
               {"runs past the end of the file"});
  expect_error(Raw().header(1, 0).tensor("t", {4}, 0, 0).s(),
               {"padding to the data section (alignment 32) runs past the end"});
}

TEST(GgufBadInput, RandomCorruptionNeverCrashes) {
  const std::string good = small_file();
  std::mt19937_64 rng(77);
  int ok = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string b = good;
    if (iter % 10 == 0) {
      b.resize(rng() % 300);
      for (char& c : b) c = static_cast<char>(rng());
      if (b.size() >= 4) std::memcpy(b.data(), "GGUF", 4);
    } else {
      for (int k = 0, m = 1 + static_cast<int>(rng() % 4); k < m; ++k) b[rng() % b.size()] = static_cast<char>(rng());
    }
    auto r = parse_bytes(b);
    if (!r.ok()) {
      EXPECT_EQ(r.status().message().rfind("m.gguf: ", 0), 0u);
      continue;
    }
    ++ok;
    for (const auto& t : r->tensors()) {
      auto bytes = r->tensor_bytes(t.name);
      ASSERT_TRUE(bytes.ok());
      ASSERT_LE(bytes->data() + bytes->size(), r->buffer()->data() + r->buffer()->size());
      if (can_dequantize(t.type)) {
        auto d = r->dequantize(t.name);
        ASSERT_TRUE(d.ok()) << d.status().message();
      }
    }
  }
  EXPECT_GT(ok, 0);
}

}  // namespace
}  // namespace ironmill::formats::gguf
