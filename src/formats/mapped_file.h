// Files as bytes: a read-only memory map that tensors can view without copying, and an atomic writer
// (temp sibling + rename) so a crash never leaves half a file behind. Shared by every format reader.
#pragma once
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>

#include "mil/tensor.h"
#include "util/status.h"

namespace ironmill::formats {

// A whole file mapped read-only. It is a mil::Buffer, so mil::Tensor::view() over it shares the
// mapping: the file stays mapped while any tensor (or lazy source) still refers to it.
class MappedFile final : public mil::Buffer {
 public:
  static Result<std::shared_ptr<const MappedFile>> open(const std::string& path);
  ~MappedFile() override;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const override { return data_; }
  size_t size() const override { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;  // nullptr for an empty file (mmap cannot map zero bytes)
  size_t size_ = 0;
  std::string path_;
};

// Bytes owned in memory, for parsing data that is not a file (tests, network, generated files).
class ByteBuffer final : public mil::Buffer {
 public:
  explicit ByteBuffer(std::string bytes) : bytes_(std::move(bytes)) {}
  const uint8_t* data() const override { return reinterpret_cast<const uint8_t*>(bytes_.data()); }
  size_t size() const override { return bytes_.size(); }

 private:
  std::string bytes_;
};

// Writes `path` atomically: bytes go to a temporary sibling ("<path>.tmp.<pid>.<n>"), which replaces
// `path` by rename() only on commit(). Destroying an uncommitted writer removes the temporary file.
class AtomicFileWriter {
 public:
  static Result<std::unique_ptr<AtomicFileWriter>> open(const std::string& path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  Status write(const void* data, size_t n);
  Status write(std::span<const uint8_t> bytes) { return write(bytes.data(), bytes.size()); }
  Status write_zeros(size_t n);
  uint64_t written() const { return written_; }
  // Flushes, fsyncs and renames over the destination. The writer is finished afterwards.
  Status commit();

 private:
  AtomicFileWriter() = default;
  std::string path_;
  std::string tmp_path_;
  std::FILE* file_ = nullptr;
  uint64_t written_ = 0;
  bool committed_ = false;
};

// Reads a small text file (JSON index, config) whole.
Result<std::string> read_text_file(const std::string& path);

}  // namespace ironmill::formats
