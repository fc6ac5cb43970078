// weight.bin (MIL blob storage v2) against the documented layout (coreml-format.md §4.3–4.4, whose
// examples were produced by coremltools' own C++ MILBlob writer): header, record offsets, sentinel,
// dtype codes, sizes, padding bits, sub-byte packing; and precise errors for corrupt files.
#include <gtest/gtest.h>

#include "formats/coreml/milblob.h"
#include "formats/mapped_file.h"
#include "test_support.h"

namespace ironmill::formats::coreml {
namespace {
using mil::DType;
using mil::Tensor;
using ironmill::testing::expect_error_contains;

uint32_t u32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | uint8_t(s[at + i]);
  return v;
}
uint64_t u64(const std::string& s, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | uint8_t(s[at + i]);
  return v;
}
std::string hexbytes(const std::string& s) {
  std::string out;
  char b[4];
  for (unsigned char c : s) { std::snprintf(b, sizeof b, "%02X ", c); out += b; }
  return out;
}

TEST(MilBlob, ThreeBlobExampleMatchesTheDocumentedLayout) {
  // §4.3: fp16 x5, fp32 x3, uint4 x5 written by the real C++ writer.
  BlobWriter w;
  auto a = w.add(Tensor::from_f64(DType::kFp16, {5}, std::vector<double>{1, 2, 3, 4, 5}));
  auto b = w.add(Tensor::from_f64(DType::kFp32, {3}, std::vector<double>{1, 2, 3}));
  auto c = w.add(Tensor::from_i64(DType::kUint4, {5}, std::vector<int64_t>{1, 2, 3, 4, 5}));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, 64u);
  EXPECT_EQ(*b, 192u);
  EXPECT_EQ(*c, 320u);
  const std::string& f = w.bytes();
  ASSERT_EQ(f.size(), 387u);
  EXPECT_EQ(hexbytes(f.substr(0, 8)), "03 00 00 00 02 00 00 00 ");
  for (size_t i = 8; i < 64; ++i) EXPECT_EQ(f[i], 0) << "header reserved byte " << i;
  EXPECT_EQ(hexbytes(f.substr(64, 8)), "EF BE AD DE 01 00 00 00 ");
  EXPECT_EQ(u64(f, 64 + 8), 10u);
  EXPECT_EQ(u64(f, 64 + 16), 128u);
  EXPECT_EQ(u64(f, 64 + 24), 0u);
  for (size_t i = 64 + 32; i < 128; ++i) EXPECT_EQ(f[i], 0) << "metadata reserved byte " << i;
  EXPECT_EQ(hexbytes(f.substr(128, 4)), "00 3C 00 40 ");  // fp16 1.0, 2.0
  EXPECT_EQ(u32(f, 192), 0xDEADBEEFu);
  EXPECT_EQ(u32(f, 192 + 4), 2u);
  EXPECT_EQ(u64(f, 192 + 8), 12u);
  EXPECT_EQ(u64(f, 192 + 16), 256u);
  for (size_t i = 138; i < 192; ++i) EXPECT_EQ(f[i], 0) << "gap byte " << i;
  EXPECT_EQ(u32(f, 320 + 4), 11u);
  EXPECT_EQ(u64(f, 320 + 8), 3u);
  EXPECT_EQ(u64(f, 320 + 16), 384u);
  EXPECT_EQ(u64(f, 320 + 24), 4u);
  EXPECT_EQ(hexbytes(f.substr(384)), "21 43 05 ");
}

TEST(MilBlob, CoremltoolsOffsetsForTwo500ElementConsts) {
  BlobWriter w;
  std::vector<double> v(500, 0.5);
  auto a = w.add(Tensor::from_f64(DType::kFp32, {500}, v));
  v[0] = 1.5;
  auto b = w.add(Tensor::from_f64(DType::kFp32, {500}, v));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, 64u);
  EXPECT_EQ(*b, 2176u);
}

TEST(MilBlob, SubBytePackingIsLsbFirst) {
  auto pack = [](DType d, std::vector<int64_t> v) {
    return hexbytes(pack_elements(Tensor::from_i64(d, {static_cast<int64_t>(v.size())}, v)));
  };
  EXPECT_EQ(pack(DType::kUint4, {1, 2, 3, 4, 5}), "21 43 05 ");
  EXPECT_EQ(pack(DType::kUint3, {1, 2, 3, 4}), "D1 08 ");
  EXPECT_EQ(pack(DType::kInt4, {-8, 7, -1}), "78 0F ");
  EXPECT_EQ(pack(DType::kUint1, {1, 0, 1, 1, 0, 0, 0, 0, 1}), "0D 01 ");
  EXPECT_EQ(pack(DType::kUint2, {3, 0, 1, 2}), "93 ");
  // uint6 straddles bytes: 63, 1, 2 -> bits 111111 100000 010000..
  EXPECT_EQ(pack(DType::kUint6, {63, 1, 2}), "7F 20 00 ");
  auto back = unpack_elements(DType::kInt4, {3}, reinterpret_cast<const uint8_t*>("\x78\x0F"), 2);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->to_i64(), (std::vector<int64_t>{-8, 7, -1}));
}

TEST(MilBlob, IdenticalBlobsShareOneRecord) {
  BlobWriter w;
  auto t = Tensor::from_f64(DType::kFp16, {16}, std::vector<double>(16, 0.25));
  auto a = w.add(t), b = w.add(t);
  auto c = w.add(t.cast_to(DType::kFp32));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  EXPECT_EQ(w.count(), 2u);
}

TEST(MilBlob, ReaderReturnsWhatWasWritten) {
  BlobWriter w;
  auto f16 = Tensor::from_f64(DType::kFp16, {2, 3}, std::vector<double>{1, -2, 3.5, 0, 65504, -0.125});
  auto i4 = Tensor::from_i64(DType::kInt4, {5}, std::vector<int64_t>{-8, -1, 0, 3, 7});
  auto u8 = Tensor::from_i64(DType::kUint8, {4}, std::vector<int64_t>{0, 1, 200, 255});
  uint64_t o1 = *w.add(f16), o2 = *w.add(i4), o3 = *w.add(u8);
  auto r = BlobReader::open(std::make_shared<ByteBuffer>(w.bytes()), "weight.bin");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)->count(), 3u);
  auto recs = (*r)->records();
  ASSERT_TRUE(recs.ok());
  ASSERT_EQ(recs->size(), 3u);
  EXPECT_EQ((*recs)[1].metadata_offset, o2);
  EXPECT_EQ((*recs)[1].padding_bits, 4u);
  EXPECT_TRUE((*r)->tensor(o1, DType::kFp16, {2, 3})->identical(f16));
  EXPECT_TRUE((*r)->tensor(o2, DType::kInt4, {5})->identical(i4));
  EXPECT_TRUE((*r)->tensor(o3, DType::kUint8, {4})->identical(u8));
}

TEST(MilBlob, CorruptFilesGiveErrorsNamingBlobAndOffset) {
  BlobWriter w;
  ASSERT_TRUE(w.add(Tensor::from_f64(DType::kFp32, {12}, std::vector<double>(12, 1.0))).ok());
  std::string good = w.bytes();
  auto open = [](std::string bytes) { return BlobReader::open(std::make_shared<ByteBuffer>(std::move(bytes)), "weights/weight.bin"); };

  auto r = open(good);
  ASSERT_TRUE(r.ok());
  expect_error_contains((*r)->record(4096).status(), {"weights/weight.bin", "offset 4096", "out of range"});
  expect_error_contains((*r)->record(96).status(), {"offset 96", "aligned"});
  expect_error_contains((*r)->tensor(64, DType::kFp16, {12}).status(), {"offset 64", "holds fp32", "declares fp16"});
  expect_error_contains((*r)->tensor(64, DType::kFp32, {13}).status(), {"offset 64", "48 data bytes"});

  std::string bad = good;
  bad[64] = 0x00;  // sentinel
  auto rb = open(bad);
  ASSERT_TRUE(rb.ok());
  expect_error_contains((*rb)->record(64).status(), {"weights/weight.bin", "offset 64", "bad sentinel", "0xdeadbe00"});

  bad = good;
  bad[64 + 8] = char(0xF0);  // size runs past the end
  expect_error_contains((*open(bad))->record(64).status(), {"offset 64", "out of range"});

  bad = good;
  bad[64 + 4] = 99;  // dtype code
  expect_error_contains((*open(bad))->record(64).status(), {"offset 64", "dtype code 99"});

  bad = good;
  bad[4] = 1;  // storage version
  expect_error_contains(open(bad).status(), {"weights/weight.bin", "version 1"});
  expect_error_contains(open(good.substr(0, 20)).status(), {"too short"});
}

}  // namespace
}  // namespace ironmill::formats::coreml
