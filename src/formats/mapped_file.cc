#include "formats/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace ironmill::formats {
namespace {
std::string errno_text() { return std::strerror(errno); }
}  // namespace

Result<std::shared_ptr<const MappedFile>> MappedFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string msg = path + ": cannot open: " + std::strerror(err);
    return err == ENOENT ? not_found(msg) : io_error(msg);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string msg = path + ": cannot stat: " + errno_text();
    ::close(fd);
    return io_error(msg);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return io_error(path + ": not a regular file");
  }
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->path_ = path;
  file->size_ = static_cast<size_t>(st.st_size);
  if (file->size_ > 0) {
    void* p = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const std::string msg = path + ": cannot mmap " + std::to_string(file->size_) + " bytes: " + errno_text();
      ::close(fd);
      return io_error(msg);
    }
    file->data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);  // the mapping stays valid after close
  return std::shared_ptr<const MappedFile>(std::move(file));
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

Result<std::unique_ptr<AtomicFileWriter>> AtomicFileWriter::open(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  std::unique_ptr<AtomicFileWriter> w(new AtomicFileWriter());
  w->path_ = path;
  w->tmp_path_ = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  w->file_ = std::fopen(w->tmp_path_.c_str(), "wb");
  if (!w->file_) return io_error(w->tmp_path_ + ": cannot create: " + errno_text());
  return w;
}

AtomicFileWriter::~AtomicFileWriter() {
  if (file_) std::fclose(file_);
  if (!committed_) std::remove(tmp_path_.c_str());
}

Status AtomicFileWriter::write(const void* data, size_t n) {
  if (!file_) return internal_error(path_ + ": write after commit");
  if (n > 0 && std::fwrite(data, 1, n, file_) != n)
    return io_error(tmp_path_ + ": write of " + std::to_string(n) + " bytes failed: " + errno_text());
  written_ += n;
  return Status::Ok();
}

Status AtomicFileWriter::write_zeros(size_t n) {
  static const uint8_t kZeros[256] = {};
  while (n > 0) {
    const size_t k = n < sizeof(kZeros) ? n : sizeof(kZeros);
    IM_RETURN_IF_ERROR(write(kZeros, k));
    n -= k;
  }
  return Status::Ok();
}

Status AtomicFileWriter::commit() {
  if (!file_) return internal_error(path_ + ": commit called twice");
  bool ok = std::fflush(file_) == 0;
  ok = ok && ::fsync(::fileno(file_)) == 0;
  const std::string err = ok ? "" : errno_text();
  ok = (std::fclose(file_) == 0) && ok;
  file_ = nullptr;
  if (!ok) return io_error(tmp_path_ + ": flush failed: " + (err.empty() ? errno_text() : err));
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0)
    return io_error("cannot rename " + tmp_path_ + " to " + path_ + ": " + errno_text());
  committed_ = true;
  return Status::Ok();
}

Result<std::string> read_text_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return not_found(path + ": no such file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error(path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return io_error(path + ": read failed");
  return ss.str();
}

}  // namespace ironmill::formats
