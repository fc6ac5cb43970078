// MIL blob storage v2 for .ironml weight files (reference/coreml-format.md §4.3): 64-byte header
// {count, version 2}, then per weight a 64-aligned metadata record {0xDEADBEEF, blob dtype, size,
// absolute data offset} followed by its data. BLOBFILE offsets point at the metadata record, so any
// number of weights share one file with correct offsets (ironmill's one-weight-per-file writer is a
// known bug we do not copy, ironmill-notes.md §11.3). Byte-dtype elements only (no sub-byte packing).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "mil/tensor.h"
#include "util/status.h"

namespace ironmill::formats::bundles {

class BlobStorageWriter {
 public:
  BlobStorageWriter();
  // Appends a tensor; returns the offset of its metadata record (the first is 64).
  Result<uint64_t> add(const mil::Tensor& t);
  const std::vector<uint8_t>& bytes() const { return bytes_; }
  uint32_t count() const { return count_; }

 private:
  std::vector<uint8_t> bytes_;
  uint32_t count_ = 0;
};

// Reads the tensor whose metadata record is at `offset`; checks sentinel, dtype and bounds.
// `what` names the file in errors ("weights/main.bin").
Result<mil::Tensor> read_blob(const std::vector<uint8_t>& file, uint64_t offset, mil::DType dtype,
                              const mil::Shape& shape, const std::string& what);

}  // namespace ironmill::formats::bundles
