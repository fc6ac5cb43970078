#include "formats/coreml/milblob.h"

#include <cstring>
#include <functional>
#include <string_view>

#include "formats/mapped_file.h"

namespace ironmill::formats::coreml {
namespace {

using mil::DType;

// (dtype, BlobDataType code) pairs: coreml-format.md §4.3.
struct CodeEntry { DType dtype; uint32_t code; };
constexpr CodeEntry kBlobCodes[] = {
    {DType::kFp16, 1},  {DType::kFp32, 2},   {DType::kUint8, 3},  {DType::kInt8, 4},
    {DType::kBf16, 5},  {DType::kInt16, 6},  {DType::kUint16, 7}, {DType::kInt4, 8},
    {DType::kUint1, 9}, {DType::kUint2, 10}, {DType::kUint4, 11}, {DType::kUint3, 12},
    {DType::kUint6, 13}, {DType::kInt32, 14}, {DType::kUint32, 15}, {DType::kFp8E4M3FN, 16},
    {DType::kFp8E5M2, 17},
};

void put_u32(std::string& s, size_t at, uint32_t v) { for (int i = 0; i < 4; ++i) s[at + i] = char((v >> (8 * i)) & 0xff); }
void put_u64(std::string& s, size_t at, uint64_t v) { for (int i = 0; i < 8; ++i) s[at + i] = char((v >> (8 * i)) & 0xff); }
uint32_t get_u32(const uint8_t* p) { uint32_t v = 0; for (int i = 3; i >= 0; --i) v = (v << 8) | p[i]; return v; }
uint64_t get_u64(const uint8_t* p) { uint64_t v = 0; for (int i = 7; i >= 0; --i) v = (v << 8) | p[i]; return v; }
uint64_t align64(uint64_t x) { return (x + kBlobAlignment - 1) / kBlobAlignment * kBlobAlignment; }

std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

std::optional<uint32_t> blob_dtype_code(DType dtype) {
  for (const auto& e : kBlobCodes) if (e.dtype == dtype) return e.code;
  return std::nullopt;
}
std::optional<DType> dtype_from_blob_code(uint32_t code) {
  for (const auto& e : kBlobCodes) if (e.code == code) return e.dtype;
  return std::nullopt;
}

std::string pack_elements(const mil::Tensor& t) {
  const size_t n = static_cast<size_t>(t.numel());
  const uint8_t* src = t.raw();
  if (!mil::is_sub_byte(t.dtype())) return std::string(reinterpret_cast<const char*>(src), t.nbytes());
  const int bits = mil::dtype_bits(t.dtype());
  std::string out((n * bits + 7) / 8, '\0');
  const unsigned mask = (1u << bits) - 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned v = src[i] & mask;  // two's complement nibble for int4
    const size_t bit = i * bits;
    out[bit / 8] = char(uint8_t(out[bit / 8]) | uint8_t(v << (bit % 8)));
    if (bit % 8 + bits > 8) out[bit / 8 + 1] = char(uint8_t(out[bit / 8 + 1]) | uint8_t(v >> (8 - bit % 8)));
  }
  return out;
}

Result<mil::Tensor> unpack_elements(DType dtype, const mil::Shape& shape, const uint8_t* data, size_t size) {
  // Sizes are checked before anything is allocated, so a hostile shape cannot exhaust memory.
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0) return invalid_argument("unpack: shape " + mil::shape_to_string(shape) + " has unknown dims");
    if (d != 0 && numel > (int64_t(1) << 40) / d)
      return invalid_argument("unpack: shape " + mil::shape_to_string(shape) + " is too large");
    numel *= d;
  }
  const int bits = mil::dtype_bits(dtype);
  if (bits == 0) return invalid_argument("unpack: dtype " + std::string(mil::dtype_name(dtype)) + " has no raw bytes");
  if (!mil::is_sub_byte(dtype)) {
    const size_t need = static_cast<size_t>(numel) * static_cast<size_t>(mil::dtype_element_bytes(dtype));
    if (size != need)
      return invalid_argument(std::to_string(size) + " bytes for " + std::string(mil::dtype_name(dtype)) +
                              mil::shape_to_string(shape) + ", expected " + std::to_string(need));
    mil::Tensor t(dtype, shape);
    if (size) std::memcpy(t.mutable_raw(), data, size);
    return t;
  }
  const size_t need = (static_cast<size_t>(numel) * bits + 7) / 8;
  if (size != need)
    return invalid_argument(std::to_string(size) + " bytes for " + std::to_string(numel) + " " +
                            std::string(mil::dtype_name(dtype)) + " elements, expected " + std::to_string(need));
  mil::Tensor t(dtype, shape);
  uint8_t* dst = t.mutable_raw();
  const unsigned mask = (1u << bits) - 1;
  for (int64_t i = 0; i < numel; ++i) {
    const size_t bit = static_cast<size_t>(i) * bits;
    unsigned v = data[bit / 8] >> (bit % 8);
    if (bit % 8 + bits > 8) v |= unsigned(data[bit / 8 + 1]) << (8 - bit % 8);
    v &= mask;
    if (dtype == DType::kInt4 && (v & 0x8)) v |= 0xF0;  // sign-extend into the in-memory int8
    dst[i] = uint8_t(v);
  }
  return t;
}

BlobWriter::BlobWriter() : bytes_(kBlobAlignment, '\0') {
  put_u32(bytes_, 0, 0);
  put_u32(bytes_, 4, kBlobStorageVersion);
}

Result<uint64_t> BlobWriter::add(const mil::Tensor& t) {
  auto code = blob_dtype_code(t.dtype());
  if (!code) return unsupported("a weight blob cannot hold dtype " + std::string(mil::dtype_name(t.dtype())));
  const std::string data = pack_elements(t);
  const size_t h = std::hash<std::string_view>()(data) ^ (size_t(*code) * 0x9E3779B97F4A7C15ull);
  auto& candidates = by_hash_[h];
  for (uint64_t off : candidates) {
    const uint8_t* meta = reinterpret_cast<const uint8_t*>(bytes_.data()) + off;
    if (get_u32(meta + 4) == *code && get_u64(meta + 8) == data.size() &&
        std::memcmp(bytes_.data() + off + kBlobAlignment, data.data(), data.size()) == 0)
      return off;
  }
  const uint64_t meta_off = align64(bytes_.size());
  const uint64_t bits = static_cast<uint64_t>(t.numel()) * mil::dtype_bits(t.dtype());
  bytes_.resize(meta_off + kBlobAlignment, '\0');
  put_u32(bytes_, meta_off + 0, kBlobSentinel);
  put_u32(bytes_, meta_off + 4, *code);
  put_u64(bytes_, meta_off + 8, data.size());
  put_u64(bytes_, meta_off + 16, meta_off + kBlobAlignment);
  put_u64(bytes_, meta_off + 24, mil::is_sub_byte(t.dtype()) ? (8 - bits % 8) % 8 : 0);
  bytes_ += data;
  ++count_;
  put_u32(bytes_, 0, count_);
  candidates.push_back(meta_off);
  return meta_off;
}

Result<std::shared_ptr<BlobReader>> BlobReader::open(std::shared_ptr<const mil::Buffer> buffer, std::string name) {
  auto r = std::shared_ptr<BlobReader>(new BlobReader());
  r->buffer_ = std::move(buffer);
  r->name_ = std::move(name);
  if (r->buffer_->size() < kBlobAlignment)
    return parse_error(r->name_ + ": " + std::to_string(r->buffer_->size()) +
                       " bytes, too short for the 64-byte blob storage header");
  const uint8_t* p = r->buffer_->data();
  const uint32_t version = get_u32(p + 4);
  if (version != kBlobStorageVersion)
    return parse_error(r->name_ + ": blob storage version " + std::to_string(version) + " at offset 4, expected 2");
  r->count_ = get_u32(p);
  return r;
}

Result<std::shared_ptr<BlobReader>> BlobReader::open_file(const std::string& path) {
  IM_ASSIGN_OR_RETURN(auto f, MappedFile::open(path));
  return open(std::move(f), path);
}

Result<BlobRecord> BlobReader::record(uint64_t off) const {
  const uint64_t size = buffer_->size();
  const std::string where = name_ + ": blob at offset " + std::to_string(off);
  if (off < kBlobAlignment || off % kBlobAlignment != 0)
    return parse_error(where + ": offset is not a 64-byte-aligned record position after the header");
  if (off > size || size - off < kBlobAlignment)
    return parse_error(where + ": offset out of range (file is " + std::to_string(size) + " bytes)");
  const uint8_t* m = buffer_->data() + off;
  BlobRecord r;
  r.metadata_offset = off;
  const uint32_t sentinel = get_u32(m);
  if (sentinel != kBlobSentinel)
    return parse_error(where + ": bad sentinel " + hex(sentinel) + ", expected 0xdeadbeef");
  r.dtype_code = get_u32(m + 4);
  if (!dtype_from_blob_code(r.dtype_code))
    return parse_error(where + ": unknown blob dtype code " + std::to_string(r.dtype_code));
  r.size = get_u64(m + 8);
  r.data_offset = get_u64(m + 16);
  r.padding_bits = get_u64(m + 24);
  if (r.data_offset < off + kBlobAlignment || r.data_offset > size || size - r.data_offset < r.size)
    return parse_error(where + ": data offset " + std::to_string(r.data_offset) + " + size " + std::to_string(r.size) +
                       " out of range (file is " + std::to_string(size) + " bytes)");
  return r;
}

Result<std::vector<BlobRecord>> BlobReader::records() const {
  std::vector<BlobRecord> out;
  uint64_t off = kBlobAlignment;
  for (uint32_t i = 0; i < count_; ++i) {
    IM_ASSIGN_OR_RETURN(BlobRecord r, record(off));
    out.push_back(r);
    off = align64(r.data_offset + r.size);
  }
  return out;
}

Result<mil::Tensor> BlobReader::tensor(uint64_t off, DType dtype, const mil::Shape& shape) const {
  IM_ASSIGN_OR_RETURN(BlobRecord r, record(off));
  const DType stored = *dtype_from_blob_code(r.dtype_code);
  const std::string where = name_ + ": blob at offset " + std::to_string(off);
  if (stored != dtype)
    return parse_error(where + " holds " + std::string(mil::dtype_name(stored)) + ", the program declares " +
                       std::string(mil::dtype_name(dtype)));
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0) return parse_error(where + ": declared shape " + mil::shape_to_string(shape) + " is not static");
    if (d != 0 && numel > (int64_t(1) << 40) / d)
      return parse_error(where + ": declared shape " + mil::shape_to_string(shape) + " is too large");
    numel *= d;
  }
  if (!mil::is_sub_byte(dtype) && r.data_offset % static_cast<uint64_t>(std::max(1, mil::dtype_element_bytes(dtype))) == 0) {
    const size_t want = static_cast<size_t>(mil::shape_numel(shape)) * mil::dtype_element_bytes(dtype);
    if (want != r.size)
      return parse_error(where + ": " + std::to_string(r.size) + " data bytes, the declared " +
                         std::string(mil::dtype_name(dtype)) + mil::shape_to_string(shape) + " needs " +
                         std::to_string(want));
    auto v = mil::Tensor::view(dtype, shape, buffer_, r.data_offset);
    if (!v.ok()) return v.status().with_context(where);
    return v;
  }
  auto t = unpack_elements(dtype, shape, buffer_->data() + r.data_offset, r.size);
  if (!t.ok()) return t.status().with_context(where);
  return t;
}

}  // namespace ironmill::formats::coreml
