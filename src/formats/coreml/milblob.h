// MIL blob storage v2 (`weights/weight.bin`), reference/coreml-format.md §4.3–4.4: a 64-byte header
// {count, version=2}, then per blob a 64-byte-aligned metadata record {0xDEADBEEF, dtype code, size,
// absolute data offset, padding bits} immediately followed by its data. A BlobFileValue's offset
// points at the metadata record. Sub-byte types are bit-packed LSB-first.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "mil/tensor.h"
#include "util/status.h"

namespace ironmill::formats::coreml {

inline constexpr uint32_t kBlobSentinel = 0xDEADBEEF;
inline constexpr uint32_t kBlobStorageVersion = 2;
inline constexpr uint64_t kBlobAlignment = 64;

// BlobDataType codes (append-only enum in MILBlob); nullopt for dtypes a blob cannot hold.
std::optional<uint32_t> blob_dtype_code(mil::DType dtype);
std::optional<mil::DType> dtype_from_blob_code(uint32_t code);

// Bit-packs sub-byte elements (one per byte in memory) LSB-first; other dtypes: the raw bytes.
std::string pack_elements(const mil::Tensor& t);
// Inverse of pack_elements for `numel` elements of `dtype` (signed int4 is sign-extended).
Result<mil::Tensor> unpack_elements(mil::DType dtype, const mil::Shape& shape, const uint8_t* data, size_t size);

// Builds a weight.bin in memory. Identical blobs (same dtype and bytes) share one record, which is how
// multi-function models share weights.
class BlobWriter {
 public:
  BlobWriter();
  // Appends `t` (or finds an identical earlier blob); returns the metadata offset.
  Result<uint64_t> add(const mil::Tensor& t);
  uint32_t count() const { return count_; }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
  uint32_t count_ = 0;
  std::unordered_map<size_t, std::vector<uint64_t>> by_hash_;  // content hash -> metadata offsets
};

struct BlobRecord {
  uint64_t metadata_offset = 0;
  uint32_t dtype_code = 0;
  uint64_t size = 0;          // data bytes
  uint64_t data_offset = 0;   // absolute
  uint64_t padding_bits = 0;
};

// Reads blobs out of a weight.bin held in `buffer` (a mapped file or bytes). `name` is used in errors.
class BlobReader {
 public:
  static Result<std::shared_ptr<BlobReader>> open(std::shared_ptr<const mil::Buffer> buffer, std::string name);
  static Result<std::shared_ptr<BlobReader>> open_file(const std::string& path);

  uint32_t count() const { return count_; }
  // The record at `metadata_offset`, checked: alignment, bounds, sentinel, dtype code, data offset and size.
  Result<BlobRecord> record(uint64_t metadata_offset) const;
  // Every record, walking from offset 64 (align64(data_offset + size) to the next).
  Result<std::vector<BlobRecord>> records() const;
  // The tensor of `type`-compatible dtype/shape at `metadata_offset`. Non-sub-byte data is a zero-copy
  // view over the buffer; sub-byte data is unpacked.
  Result<mil::Tensor> tensor(uint64_t metadata_offset, mil::DType dtype, const mil::Shape& shape) const;
  const std::string& name() const { return name_; }

 private:
  std::shared_ptr<const mil::Buffer> buffer_;
  std::string name_;
  uint32_t count_ = 0;
};

}  // namespace ironmill::formats::coreml
