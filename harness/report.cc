#include "harness/report.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace ironmill::harness {

Status write_file_atomic(const std::string& path, const std::string& contents) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path p(path);
  if (p.has_parent_path()) fs::create_directories(p.parent_path(), ec);
  if (ec) return io_error("cannot create directory for " + path + ": " + ec.message());
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return io_error("cannot write " + tmp);
    out << contents;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      return io_error("write failed for " + tmp);
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    return io_error("cannot rename " + tmp + " to " + path + ": " + ec.message());
  }
  return Status::Ok();
}

}  // namespace ironmill::harness
