#include "formats/bundles/blob_storage.h"

#include <cstring>

namespace ironmill::formats::bundles {
namespace {
constexpr uint32_t kSentinel = 0xDEADBEEF;
constexpr uint64_t kAlign = 64;

// BlobDataType codes (coreml-format.md §4.3) for the byte-sized dtypes we store.
int blob_code(mil::DType d) {
  switch (d) {
    case mil::DType::kFp16: return 1;
    case mil::DType::kFp32: return 2;
    case mil::DType::kUint8: return 3;
    case mil::DType::kInt8: return 4;
    case mil::DType::kBf16: return 5;
    case mil::DType::kInt16: return 6;
    case mil::DType::kUint16: return 7;
    case mil::DType::kInt32: return 14;
    case mil::DType::kUint32: return 15;
    default: return 0;
  }
}
void put_u32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
void put_u64(std::vector<uint8_t>& b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t get_le(const std::vector<uint8_t>& b, size_t at, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(b[at + i]) << (8 * i);
  return v;
}
}  // namespace

BlobStorageWriter::BlobStorageWriter() : bytes_(64, 0) { put_u32(bytes_, 4, 2); }

Result<uint64_t> BlobStorageWriter::add(const mil::Tensor& t) {
  const int code = blob_code(t.dtype());
  if (!code) return unsupported("blob storage: dtype " + std::string(mil::dtype_name(t.dtype())) + " is not stored");
  const uint64_t meta = (bytes_.size() + kAlign - 1) / kAlign * kAlign;
  const uint64_t data = meta + 64, size = t.nbytes();
  if (data + size > UINT32_MAX) return unsupported("blob storage: weight file would exceed 4 GiB");
  bytes_.resize(data + size, 0);
  put_u32(bytes_, meta, kSentinel);
  put_u32(bytes_, meta + 4, static_cast<uint32_t>(code));
  put_u64(bytes_, meta + 8, size);
  put_u64(bytes_, meta + 16, data);
  if (size) std::memcpy(bytes_.data() + data, t.raw(), size);
  put_u32(bytes_, 0, ++count_);
  return meta;
}

Result<mil::Tensor> read_blob(const std::vector<uint8_t>& f, uint64_t offset, mil::DType dtype, const mil::Shape& shape,
                              const std::string& what) {
  auto err = [&](const std::string& m) { return invalid_argument(what + ": blob at offset " + std::to_string(offset) + ": " + m); };
  if (f.size() < 64 || get_le(f, 4, 4) != 2) return invalid_argument(what + ": not a MIL blob storage v2 file (version field != 2)");
  if (offset % kAlign || offset < 64 || offset + 64 > f.size()) return err("outside the file or not 64-byte aligned");
  if (get_le(f, offset, 4) != kSentinel) return err("sentinel is not 0xDEADBEEF");
  const int code = blob_code(dtype);
  if (static_cast<int>(get_le(f, offset + 4, 4)) != code)
    return err("dtype code " + std::to_string(get_le(f, offset + 4, 4)) + ", expected " + std::to_string(code) + " (" +
               std::string(mil::dtype_name(dtype)) + ")");
  const uint64_t size = get_le(f, offset + 8, 8), data = get_le(f, offset + 16, 8);
  mil::Tensor t(dtype, shape);
  if (size != t.nbytes()) return err("holds " + std::to_string(size) + " bytes, the declared type needs " + std::to_string(t.nbytes()));
  if (data < offset + 64 || data + size > f.size()) return err("data range [" + std::to_string(data) + ", +" + std::to_string(size) + ") outside the file");
  if (size) std::memcpy(t.mutable_raw(), f.data() + data, size);
  return t;
}

}  // namespace ironmill::formats::bundles
