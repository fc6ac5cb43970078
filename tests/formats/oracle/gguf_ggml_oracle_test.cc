// GGUF and ggml quantization against llama.cpp's own ggml (libggml-base from ci/setup_peers.sh, built
// with GGML_NATIVE=OFF). Bit-exactness, block by block: our quantizers vs ggml_quantize_chunk, our
// dequantizers vs ggml's to_float, our fp16 conversions vs ggml's; files written by us read by ggml's
// gguf reader and vice versa (byte-identical), and the two readers' verdicts on truncated and
// corrupted files. Without the peer every test skips with the reason.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "formats/gguf/gguf.h"
#include "formats/gguf/quants.h"
#include "formats/mapped_file.h"

#if IRONMILL_HAVE_GGML
#include "ggml.h"
#include "gguf.h"
#endif

namespace ironmill::formats::gguf {
namespace {

#if !IRONMILL_HAVE_GGML

TEST(GgufGgmlOracle, Skipped) {
  std::printf("SKIP: ggml peer not built; run ci/setup_peers.sh (then re-run cmake)\n");
  GTEST_SKIP() << "SKIP: ggml peer not built; run ci/setup_peers.sh (then re-run cmake)";
}

#else

void quiet_log(enum ggml_log_level, const char*, void*) {}

class GgufGgmlOracle : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ggml_log_set(quiet_log, nullptr); }
};

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Random data sets that exercise the quantizers' branches.
std::vector<float> make_data(int kind, int64_t n, std::mt19937& rng) {
  std::vector<float> x(static_cast<size_t>(n));
  std::normal_distribution<float> normal(0.f, 1.f);
  std::uniform_real_distribution<float> uni(-1.f, 1.f);
  for (int64_t i = 0; i < n; ++i) {
    float v = 0;
    switch (kind) {
      case 0: v = normal(rng); break;                                                  // gaussian weights
      case 1: v = uni(rng) * 0.02f; break;                                             // small uniform
      case 2: v = normal(rng) * (i % 97 == 0 ? 50.f : 1.f); break;                     // outliers
      case 3: v = std::fabs(normal(rng)); break;                                       // all positive
      case 4: v = -std::fabs(normal(rng)) * 1e3f; break;                               // all negative, large
      case 5: v = (i / 32) % 3 == 0 ? 0.f : normal(rng); break;                        // all-zero blocks
      case 6: v = (i / 16) % 4 == 1 ? 1.25f : normal(rng) * 1e-3f; break;              // constant sub-blocks
      case 7: v = std::round(normal(rng) * 8.f) / 8.f; break;                          // values on a grid (ties)
      case 8: v = normal(rng) * 1e-20f; break;                                         // tiny (below GROUP_MAX_EPS)
      case 9: v = (rng() % 5 == 0) ? normal(rng) * 6e4f : normal(rng) * 1e-4f; break;  // fp16-range extremes
      default: v = static_cast<float>(static_cast<int>(rng() % 33) - 16); break;       // small integers
    }
    x[static_cast<size_t>(i)] = v;
  }
  return x;
}
constexpr int kDataKinds = 11;

struct QuantCase {
  GgmlType ours;
  ggml_type theirs;
};
const QuantCase kQuantCases[] = {
    {GgmlType::kQ4_0, GGML_TYPE_Q4_0}, {GgmlType::kQ8_0, GGML_TYPE_Q8_0}, {GgmlType::kQ4_K, GGML_TYPE_Q4_K},
    {GgmlType::kQ6_K, GGML_TYPE_Q6_K}, {GgmlType::kF16, GGML_TYPE_F16},   {GgmlType::kBF16, GGML_TYPE_BF16},
};

TEST_F(GgufGgmlOracle, TypeTableMatchesGgml) {
  EXPECT_EQ(kGgmlTypeIdEnd, static_cast<uint32_t>(GGML_TYPE_COUNT));
  for (uint32_t id = 0; id < GGML_TYPE_COUNT; ++id) {
    SCOPED_TRACE(id);
    const auto* theirs = ggml_get_type_traits(static_cast<ggml_type>(id));
    const GgmlTypeTraits* ours = ggml_type_traits(id);
    if (theirs->blck_size == 0) {  // removed id
      EXPECT_EQ(ours, nullptr);
      continue;
    }
    ASSERT_NE(ours, nullptr) << theirs->type_name;
    EXPECT_EQ(ours->name, std::string_view(theirs->type_name));
    EXPECT_EQ(ours->block_size, theirs->blck_size);
    EXPECT_EQ(ours->type_size, theirs->type_size);
  }
}

TEST_F(GgufGgmlOracle, Fp16ConversionsAreBitExact) {
  for (uint32_t h = 0; h < 65536; ++h) {
    ASSERT_EQ(bits(ggml_fp16_to_fp32(static_cast<uint16_t>(h))), bits(::ggml_fp16_to_fp32(static_cast<ggml_fp16_t>(h))))
        << h;
  }
  // Every 65521st fp32 bit pattern (all exponents, NaNs, infinities) and a million random ones.
  std::mt19937 rng(7);
  uint64_t checked = 0;
  for (uint64_t u = 0; u <= 0xFFFFFFFFull; u += 65521) {
    float f;
    const uint32_t w = static_cast<uint32_t>(u);
    std::memcpy(&f, &w, 4);
    ASSERT_EQ(ggml_fp32_to_fp16(f), ::ggml_fp32_to_fp16(f)) << std::hex << w;
    ++checked;
  }
  for (int i = 0; i < 1000000; ++i) {
    const uint32_t w = static_cast<uint32_t>(rng());
    float f;
    std::memcpy(&f, &w, 4);
    ASSERT_EQ(ggml_fp32_to_fp16(f), ::ggml_fp32_to_fp16(f)) << std::hex << w;
    ++checked;
  }
  std::printf("fp16: 65536 fp16->fp32 and %llu fp32->fp16 conversions bit-identical to ggml\n",
              static_cast<unsigned long long>(checked));
}

// Compares our quantize() with ggml_quantize_chunk block by block on every data kind.
void compare_quantize(const QuantCase& qc, bool with_imatrix) {
  const auto& tr = ggml_type_traits(qc.ours);
  const int64_t n_per_row = 1024, nrows = 16;
  const uint64_t row_size = ggml_row_size(qc.ours, n_per_row);
  std::mt19937 rng(1000 + static_cast<int>(qc.ours));
  uint64_t blocks = 0;
  for (int kind = 0; kind < kDataKinds; ++kind) {
    for (int rep = 0; rep < 4; ++rep) {
      SCOPED_TRACE("type " + std::string(tr.name) + " kind " + std::to_string(kind) + " rep " + std::to_string(rep) +
                   (with_imatrix ? " imatrix" : ""));
      const auto x = make_data(kind, n_per_row * nrows, rng);
      std::vector<float> imatrix;
      if (with_imatrix) {
        std::uniform_real_distribution<float> w(0.f, 4.f);
        imatrix.resize(n_per_row);
        for (auto& v : imatrix) v = (rng() % 10 == 0) ? 0.f : w(rng);
      }
      const float* im = with_imatrix ? imatrix.data() : nullptr;
      std::vector<uint8_t> ours(row_size * nrows, 0xAA), theirs(row_size * nrows, 0x55);
      auto n = quantize(qc.ours, x.data(), ours.data(), nrows, n_per_row, im);
      ASSERT_TRUE(n.ok()) << n.status().message();
      const size_t m = ggml_quantize_chunk(qc.theirs, x.data(), theirs.data(), 0, nrows, n_per_row, im);
      ASSERT_EQ(*n, m);
      const uint64_t bs = tr.type_size;
      for (uint64_t b = 0; b < ours.size() / bs; ++b) {
        ASSERT_EQ(std::memcmp(ours.data() + b * bs, theirs.data() + b * bs, bs), 0) << "first differing block " << b;
        ++blocks;
      }
      // And our dequantizer agrees with ggml's on what was produced.
      if (tr.quantized) {
        std::vector<float> a(x.size()), c(x.size());
        ASSERT_TRUE(dequantize_row(qc.ours, ours.data(), a.data(), static_cast<int64_t>(x.size())).ok());
        ggml_get_type_traits(qc.theirs)->to_float(theirs.data(), c.data(), static_cast<int64_t>(x.size()));
        ASSERT_EQ(std::memcmp(a.data(), c.data(), a.size() * 4), 0);
      }
    }
  }
  std::printf("quantize %-5s%s: %llu blocks bit-identical to ggml_quantize_chunk\n", std::string(tr.name).c_str(),
              with_imatrix ? " (imatrix)" : "", static_cast<unsigned long long>(blocks));
}

TEST_F(GgufGgmlOracle, QuantizeIsBitExact) {
  for (const auto& qc : kQuantCases) compare_quantize(qc, false);
}

TEST_F(GgufGgmlOracle, QuantizeWithImatrixIsBitExact) {
  for (const auto& qc : kQuantCases) compare_quantize(qc, true);
}

// Byte offsets of the fp16 scale fields in each block, so random blocks get finite scales.
struct DequantCase {
  GgmlType ours;
  ggml_type theirs;
  std::vector<int> half_offsets;
};

TEST_F(GgufGgmlOracle, DequantizeRandomBlocksIsBitExact) {
  const std::vector<DequantCase> cases = {
      {GgmlType::kF32, GGML_TYPE_F32, {}},         {GgmlType::kF16, GGML_TYPE_F16, {0}},
      {GgmlType::kBF16, GGML_TYPE_BF16, {}},       {GgmlType::kQ4_0, GGML_TYPE_Q4_0, {0}},
      {GgmlType::kQ4_1, GGML_TYPE_Q4_1, {0, 2}},   {GgmlType::kQ5_0, GGML_TYPE_Q5_0, {0}},
      {GgmlType::kQ5_1, GGML_TYPE_Q5_1, {0, 2}},   {GgmlType::kQ8_0, GGML_TYPE_Q8_0, {0}},
      {GgmlType::kQ2_K, GGML_TYPE_Q2_K, {80, 82}}, {GgmlType::kQ3_K, GGML_TYPE_Q3_K, {108}},
      {GgmlType::kQ4_K, GGML_TYPE_Q4_K, {0, 2}},   {GgmlType::kQ5_K, GGML_TYPE_Q5_K, {0, 2}},
      {GgmlType::kQ6_K, GGML_TYPE_Q6_K, {208}},
  };
  std::mt19937 rng(99);
  for (const auto& dc : cases) {
    const auto& tr = ggml_type_traits(dc.ours);
    SCOPED_TRACE(std::string(tr.name));
    ASSERT_TRUE(can_dequantize(dc.ours));
    const int64_t n_blocks = tr.quantized ? 4096 : 65536;
    const int64_t n = n_blocks * tr.block_size;
    std::vector<uint8_t> src(static_cast<size_t>(n_blocks * tr.type_size));
    for (auto& b : src) b = static_cast<uint8_t>(rng());
    // Scale fields: random finite fp16 (plain F16: every element), including subnormals and zero.
    const int stride = dc.ours == GgmlType::kF16 ? 2 : static_cast<int>(tr.type_size);
    for (size_t blk = 0; blk + stride <= src.size(); blk += stride) {
      for (int off : dc.half_offsets) {
        uint16_t h;
        do h = static_cast<uint16_t>(rng());
        while ((h & 0x7C00) == 0x7C00);
        if (rng() % 50 == 0) h = 0;
        std::memcpy(&src[blk + off], &h, 2);
      }
    }
    std::vector<float> ours(static_cast<size_t>(n)), theirs(static_cast<size_t>(n));
    ASSERT_TRUE(dequantize_row(dc.ours, src.data(), ours.data(), n).ok());
    if (auto to_float = ggml_get_type_traits(dc.theirs)->to_float) {
      to_float(src.data(), theirs.data(), n);
    } else {  // ggml has no F32 to_float: the data is the floats themselves
      ASSERT_EQ(dc.ours, GgmlType::kF32);
      std::memcpy(theirs.data(), src.data(), src.size());
    }
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(bits(ours[i]), bits(theirs[i])) << "element " << i << " (block " << i / tr.block_size << ")";
    std::printf("dequantize %-5s: %lld random blocks bit-identical to ggml to_float\n", std::string(tr.name).c_str(),
                static_cast<long long>(n_blocks));
  }
}

// ---------------------------------------------------------------------------------------------
// GGUF containers

// A writer with every scalar type, string and numeric arrays and a few tensor types (no nested
// arrays: ggml does not read them).
Writer sample_writer(uint32_t alignment) {
  Writer w;
  EXPECT_TRUE(w.set("general.architecture", Value::str("llama")).ok());
  if (alignment != kDefaultAlignment) {
    EXPECT_TRUE(w.set("general.alignment", Value::u32(alignment)).ok());
  }
  EXPECT_TRUE(w.set("t.u8", Value::u8(200)).ok());
  EXPECT_TRUE(w.set("t.i8", Value::i8(-100)).ok());
  EXPECT_TRUE(w.set("t.u16", Value::u16(60000)).ok());
  EXPECT_TRUE(w.set("t.i16", Value::i16(-30000)).ok());
  EXPECT_TRUE(w.set("t.u32", Value::u32(4000000000u)).ok());
  EXPECT_TRUE(w.set("t.i32", Value::i32(-2000000000)).ok());
  EXPECT_TRUE(w.set("t.f32", Value::f32(3.25f)).ok());
  EXPECT_TRUE(w.set("t.bool", Value::boolean(true)).ok());
  EXPECT_TRUE(w.set("t.u64", Value::u64(1ull << 60)).ok());
  EXPECT_TRUE(w.set("t.i64", Value::i64(-(1ll << 60))).ok());
  EXPECT_TRUE(w.set("t.f64", Value::f64(-2.5e300)).ok());
  EXPECT_TRUE(w.set("t.strs", Value::strings({"a", "", "ünïcode", std::string("nul\0inside", 10)})).ok());
  EXPECT_TRUE(w.set("t.f32s", Value::f32s({1.f, -0.f, 1e-30f})).ok());
  EXPECT_TRUE(w.set("t.bools", Value::array(ValueType::kBool, {Value::boolean(false), Value::boolean(true)})).ok());
  EXPECT_TRUE(w.set("t.empty", Value::array(ValueType::kInt64, {})).ok());
  std::mt19937 rng(5);
  auto data = make_data(0, 512, rng);
  std::vector<uint8_t> f32(data.size() * 4);
  std::memcpy(f32.data(), data.data(), f32.size());
  EXPECT_TRUE(w.add_tensor("f32.weight", GgmlType::kF32, {64, 8}, f32).ok());
  for (GgmlType t : {GgmlType::kQ8_0, GgmlType::kQ4_K, GgmlType::kF16}) {
    std::vector<uint8_t> q(ggml_row_size(t, 256) * 2);
    EXPECT_TRUE(quantize(t, data.data(), q.data(), 2, 256).ok());
    EXPECT_TRUE(w.add_tensor(std::string(ggml_type_name(t)) + ".weight", t, {256, 2}, q).ok());
  }
  EXPECT_TRUE(w.add_tensor("odd", GgmlType::kI8, {3}, std::vector<uint8_t>{1, 2, 3}).ok());
  return w;
}

TEST_F(GgufGgmlOracle, GgmlReadsWhatWeWrite) {
  for (uint32_t alignment : {32u, 64u, 8u}) {
    SCOPED_TRACE(alignment);
    auto bytes = sample_writer(alignment).serialize();
    ASSERT_TRUE(bytes.ok());
    ggml_context* data_ctx = nullptr;
    gguf_init_params params = {/*no_alloc=*/false, &data_ctx};
    gguf_context* g = gguf_init_from_buffer(bytes->data(), bytes->size(), params);
    ASSERT_NE(g, nullptr) << "ggml rejected our file";
    auto ours = File::parse(std::make_shared<ByteBuffer>(*bytes), "ours.gguf");
    ASSERT_TRUE(ours.ok()) << ours.status().message();
    EXPECT_EQ(gguf_get_version(g), 3u);
    EXPECT_EQ(gguf_get_alignment(g), alignment);
    EXPECT_EQ(gguf_get_data_offset(g), ours->data_offset());
    ASSERT_EQ(gguf_get_n_kv(g), static_cast<int64_t>(ours->metadata().size()));
    for (int64_t i = 0; i < gguf_get_n_kv(g); ++i) {
      const auto& [key, v] = ours->metadata()[static_cast<size_t>(i)];
      SCOPED_TRACE(key);
      EXPECT_EQ(std::string(gguf_get_key(g, i)), key);
      const auto type = gguf_get_kv_type(g, i);
      EXPECT_EQ(static_cast<uint32_t>(type), static_cast<uint32_t>(v.type()));
      if (type == GGUF_TYPE_STRING) {
        EXPECT_EQ(std::string(gguf_get_val_str(g, i)), *v.as_string());
      } else if (type == GGUF_TYPE_ARRAY) {
        const Array* a = v.as_array();
        ASSERT_EQ(gguf_get_arr_n(g, i), a->items.size());
        EXPECT_EQ(static_cast<uint32_t>(gguf_get_arr_type(g, i)), static_cast<uint32_t>(a->type));
        for (size_t j = 0; j < a->items.size(); ++j) {
          if (a->type == ValueType::kString) {  // ggml hands out C strings: compare up to a NUL
            EXPECT_EQ(std::string(gguf_get_arr_str(g, i, j)), std::string(a->items[j].as_string()->c_str()));
          } else if (a->type == ValueType::kFloat32) {
            EXPECT_EQ(bits(static_cast<const float*>(gguf_get_arr_data(g, i))[j]), bits(*a->items[j].get_if<float>()));
          }
        }
      } else if (auto d = v.as_double()) {
        double theirs = 0;
        switch (type) {
          case GGUF_TYPE_UINT8: theirs = gguf_get_val_u8(g, i); break;
          case GGUF_TYPE_INT8: theirs = gguf_get_val_i8(g, i); break;
          case GGUF_TYPE_UINT16: theirs = gguf_get_val_u16(g, i); break;
          case GGUF_TYPE_INT16: theirs = gguf_get_val_i16(g, i); break;
          case GGUF_TYPE_UINT32: theirs = gguf_get_val_u32(g, i); break;
          case GGUF_TYPE_INT32: theirs = gguf_get_val_i32(g, i); break;
          case GGUF_TYPE_FLOAT32: theirs = gguf_get_val_f32(g, i); break;
          case GGUF_TYPE_UINT64: theirs = static_cast<double>(gguf_get_val_u64(g, i)); break;
          case GGUF_TYPE_INT64: theirs = static_cast<double>(gguf_get_val_i64(g, i)); break;
          case GGUF_TYPE_FLOAT64: theirs = gguf_get_val_f64(g, i); break;
          default: FAIL();
        }
        EXPECT_EQ(theirs, *d);
      } else {
        EXPECT_EQ(gguf_get_val_bool(g, i), *v.get_if<bool>());
      }
    }
    ASSERT_EQ(gguf_get_n_tensors(g), static_cast<int64_t>(ours->tensors().size()));
    for (int64_t i = 0; i < gguf_get_n_tensors(g); ++i) {
      const TensorInfo& t = ours->tensors()[static_cast<size_t>(i)];
      SCOPED_TRACE(t.name);
      EXPECT_EQ(std::string(gguf_get_tensor_name(g, i)), t.name);
      EXPECT_EQ(static_cast<uint32_t>(gguf_get_tensor_type(g, i)), static_cast<uint32_t>(t.type));
      EXPECT_EQ(gguf_get_tensor_offset(g, i), t.offset);
      EXPECT_EQ(gguf_get_tensor_size(g, i), t.nbytes);
      const int64_t* ne = gguf_get_tensor_ne(g, i);
      for (size_t j = 0; j < 4; ++j) EXPECT_EQ(ne[j], j < t.ne.size() ? t.ne[j] : 1);
      ggml_tensor* gt = ggml_get_tensor(data_ctx, t.name.c_str());
      ASSERT_NE(gt, nullptr);
      auto span = ours->tensor_bytes(t.name);
      ASSERT_TRUE(span.ok());
      EXPECT_EQ(std::memcmp(gt->data, span->data(), t.nbytes), 0);
    }
    ggml_free(data_ctx);
    gguf_free(g);
  }
}

TEST_F(GgufGgmlOracle, OurWriterIsByteIdenticalToGgmls) {
  // The same content built through ggml's gguf API and written by gguf_write_to_file. (ggml's C API
  // takes C strings, so the string array here has no embedded NUL.)
  Writer w = sample_writer(32);
  ASSERT_TRUE(w.set("t.strs", Value::strings({"a", "", "ünïcode", "nul"})).ok());
  auto ours = w.serialize();
  ASSERT_TRUE(ours.ok());
  auto parsed = File::parse(std::make_shared<ByteBuffer>(*ours), "ours.gguf");
  ASSERT_TRUE(parsed.ok());

  gguf_context* g = gguf_init_empty();
  for (const auto& [key, v] : parsed->metadata()) {
    const char* k = key.c_str();
    switch (v.type()) {
      case ValueType::kUint8: gguf_set_val_u8(g, k, *v.get_if<uint8_t>()); break;
      case ValueType::kInt8: gguf_set_val_i8(g, k, *v.get_if<int8_t>()); break;
      case ValueType::kUint16: gguf_set_val_u16(g, k, *v.get_if<uint16_t>()); break;
      case ValueType::kInt16: gguf_set_val_i16(g, k, *v.get_if<int16_t>()); break;
      case ValueType::kUint32: gguf_set_val_u32(g, k, *v.get_if<uint32_t>()); break;
      case ValueType::kInt32: gguf_set_val_i32(g, k, *v.get_if<int32_t>()); break;
      case ValueType::kFloat32: gguf_set_val_f32(g, k, *v.get_if<float>()); break;
      case ValueType::kBool: gguf_set_val_bool(g, k, *v.get_if<bool>()); break;
      case ValueType::kString: gguf_set_val_str(g, k, v.as_string()->c_str()); break;  // no NULs in scalars here
      case ValueType::kUint64: gguf_set_val_u64(g, k, *v.get_if<uint64_t>()); break;
      case ValueType::kInt64: gguf_set_val_i64(g, k, *v.get_if<int64_t>()); break;
      case ValueType::kFloat64: gguf_set_val_f64(g, k, *v.get_if<double>()); break;
      case ValueType::kArray: {
        const Array* a = v.as_array();
        if (a->type == ValueType::kString) {
          std::vector<const char*> ptrs;
          for (const auto& s : a->items) ptrs.push_back(s.as_string()->c_str());
          gguf_set_arr_str(g, k, ptrs.data(), ptrs.size());
        } else {
          {
            std::vector<uint8_t> raw;
            for (const auto& item : a->items) {
              std::visit(
                  [&](const auto& x) {
                    using T = std::decay_t<decltype(x)>;
                    if constexpr (std::is_arithmetic_v<T>) {
                      const uint8_t* p = reinterpret_cast<const uint8_t*>(&x);
                      raw.insert(raw.end(), p, p + sizeof(T));
                    }
                  },
                  item.data);
            }
            gguf_set_arr_data(g, k, static_cast<gguf_type>(a->type), raw.data(), a->items.size());
          }
        }
        break;
      }
    }
  }
  ggml_init_params ip = {/*mem_size=*/16 * 1024 * 1024, /*mem_buffer=*/nullptr, /*no_alloc=*/true};
  ggml_context* ctx = ggml_init(ip);
  for (const auto& t : parsed->tensors()) {
    int64_t ne[4] = {1, 1, 1, 1};
    for (size_t j = 0; j < t.ne.size(); ++j) ne[j] = t.ne[j];
    ggml_tensor* gt = ggml_new_tensor(ctx, static_cast<ggml_type>(t.type), static_cast<int>(t.ne.size()), ne);
    ggml_set_name(gt, t.name.c_str());
    gt->data = const_cast<uint8_t*>(parsed->tensor_bytes(t.name)->data());
    gguf_add_tensor(g, gt);
  }
  const std::string tmp = ::testing::TempDir() + "ironmill_ggml_written.gguf";
  ASSERT_TRUE(gguf_write_to_file(g, tmp.c_str(), false));
  auto theirs = MappedFile::open(tmp);
  ASSERT_TRUE(theirs.ok());
  ASSERT_EQ(ours->size(), (*theirs)->size());
  EXPECT_EQ(std::memcmp(ours->data(), (*theirs)->data(), ours->size()), 0);
  std::remove(tmp.c_str());
  ggml_free(ctx);
  gguf_free(g);
}

// ggml's verdict on a buffer: metadata accepted and the padded data section inside the buffer.
bool ggml_accepts(const std::string& bytes) {
  gguf_init_params params = {/*no_alloc=*/true, /*ctx=*/nullptr};
  gguf_context* g = gguf_init_from_buffer(bytes.data(), bytes.size(), params);
  if (!g) return false;
  uint64_t end = gguf_get_data_offset(g);
  const int64_t n = gguf_get_n_tensors(g);
  bool ok = true;
  if (n > 0) {
    const uint64_t a = gguf_get_alignment(g);
    const uint64_t sz = gguf_get_tensor_size(g, n - 1);
    end += gguf_get_tensor_offset(g, n - 1) + sz + (a - sz % a) % a;
    ok = end <= bytes.size();
  }
  gguf_free(g);
  return ok;
}

TEST_F(GgufGgmlOracle, ReadersAgreeOnTruncatedAndCorruptedFiles) {
  auto good = sample_writer(32).serialize();
  ASSERT_TRUE(good.ok());
  auto parse = [](const std::string& b) { return File::parse(std::make_shared<ByteBuffer>(b), "x.gguf"); };
  ASSERT_TRUE(ggml_accepts(*good));
  ASSERT_TRUE(parse(*good).ok());
  // Truncations: both reject everywhere, except inside the final tensor's trailing padding, which
  // ggml needs and we (like llama.cpp's model loader) do not.
  auto full = parse(*good);
  const TensorInfo& last = full->tensors().back();
  const uint64_t last_end = full->data_offset() + last.offset + last.nbytes;
  for (size_t n = 0; n < good->size(); ++n) {
    const std::string cut = good->substr(0, n);
    const bool ours = parse(cut).ok();
    const bool theirs = ggml_accepts(cut);
    if (n >= last_end) {
      EXPECT_TRUE(ours) << n;
      EXPECT_FALSE(theirs) << n;
    } else {
      ASSERT_FALSE(ours) << "accepted truncation at " << n;
      ASSERT_FALSE(theirs) << "ggml accepted truncation at " << n;
    }
  }
  // Random corruptions of the metadata: same verdict, except for the two documented differences
  // (bools other than 0/1, which we reject; nested arrays, which we accept).
  std::mt19937_64 rng(42);
  int agree = 0, known = 0;
  const size_t meta_end = full->data_offset();
  for (int iter = 0; iter < 20000; ++iter) {
    std::string bytes = *good;
    for (int k = 0, m = 1 + static_cast<int>(rng() % 3); k < m; ++k) {
      const size_t at = rng() % meta_end;
      bytes[at] = (rng() % 4 == 0) ? static_cast<char>(bytes[at] ^ (1 << (rng() % 8))) : static_cast<char>(rng());
    }
    auto r = parse(bytes);
    const bool theirs = ggml_accepts(bytes);
    if (r.ok() == theirs) {
      ++agree;
      continue;
    }
    if (!r.ok() && r.status().message().find("only 0 or 1 are valid") != std::string::npos) {
      ++known;
      continue;
    }
    bool nested = false;
    if (r.ok())
      for (const auto& [k, v] : r->metadata())
        if (v.as_array() && v.as_array()->type == ValueType::kArray) nested = true;
    if (nested) {
      ++known;
      continue;
    }
    ADD_FAILURE() << "readers disagree (ours " << (r.ok() ? "accepts" : "rejects: " + r.status().message()) << ", ggml "
                  << (theirs ? "accepts" : "rejects") << ") at iteration " << iter;
    break;
  }
  std::printf("corrupted files: %d same verdict as ggml, %d known differences\n", agree, known);
}

#endif  // IRONMILL_HAVE_GGML

}  // namespace
}  // namespace ironmill::formats::gguf
