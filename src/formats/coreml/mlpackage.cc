#include "formats/coreml/mlpackage.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "formats/mapped_file.h"

namespace ironmill::formats::coreml {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

Status write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  if (!out) return io_error(p.string() + ": cannot create");
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.flush();
  if (!out) return io_error(p.string() + ": write failed");
  return Status::Ok();
}

fs::path temp_sibling(const fs::path& target, const char* what) {
  static std::atomic<int> counter{0};
  fs::path parent = target.parent_path();
  if (parent.empty()) parent = ".";
  return parent / ("." + target.filename().string() + "." + what + "." + std::to_string(::getpid()) + "." +
                   std::to_string(counter++));
}

// Removes a directory tree on scope exit unless released.
struct TreeGuard {
  fs::path path;
  ~TreeGuard() {
    if (!path.empty()) {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  }
};

}  // namespace

std::string make_uuid() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  uint8_t b[16];
  for (int i = 0; i < 16; i += 8) {
    uint64_t r = rng();
    for (int k = 0; k < 8; ++k) b[i + k] = uint8_t(r >> (8 * k));
  }
  b[6] = uint8_t((b[6] & 0x0f) | 0x40);
  b[8] = uint8_t((b[8] & 0x3f) | 0x80);
  static const char* hexd = "0123456789ABCDEF";
  std::string s;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += hexd[b[i] >> 4];
    s += hexd[b[i] & 15];
  }
  return s;
}

Status write_package(const std::string& dir, const PackageContents& contents) {
  const fs::path target(dir);
  if (target.extension() != ".mlpackage")
    return invalid_argument(dir + ": a Core ML package directory must end in .mlpackage");
  std::error_code ec;
  const fs::path tmp = temp_sibling(target, "tmp");
  TreeGuard guard{tmp};
  const fs::path data = tmp / "Data" / kPackageAuthor;
  if (!fs::create_directories(data, ec) || ec) return io_error(tmp.string() + ": cannot create: " + ec.message());
  IM_RETURN_IF_ERROR(write_bytes(data / kModelFileName, contents.model_bytes));

  json items = json::object();
  const std::string model_id = make_uuid();
  items[model_id] = {{"author", kPackageAuthor},
                     {"description", "CoreML Model Specification"},
                     {"name", kModelFileName},
                     {"path", std::string(kPackageAuthor) + "/" + kModelFileName}};
  if (contents.weights) {
    fs::create_directories(data / kWeightsDirName, ec);
    if (ec) return io_error((data / kWeightsDirName).string() + ": cannot create: " + ec.message());
    IM_RETURN_IF_ERROR(write_bytes(data / kWeightsDirName / kWeightsFileName, *contents.weights));
    items[make_uuid()] = {{"author", kPackageAuthor},
                          {"description", "CoreML Model Weights"},
                          {"name", kWeightsDirName},
                          {"path", std::string(kPackageAuthor) + "/" + kWeightsDirName}};
  }
  json manifest = {{"fileFormatVersion", "1.0.0"}, {"itemInfoEntries", items}, {"rootModelIdentifier", model_id}};
  IM_RETURN_IF_ERROR(write_bytes(tmp / "Manifest.json", manifest.dump(4) + "\n"));

  // Swap into place: an existing package is moved aside first and removed after the rename.
  fs::path old;
  if (fs::exists(target, ec)) {
    old = temp_sibling(target, "old");
    fs::rename(target, old, ec);
    if (ec) return io_error(dir + ": cannot replace the existing package: " + ec.message());
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    if (!old.empty()) fs::rename(old, target, ec);
    return io_error(dir + ": cannot rename the new package into place");
  }
  guard.path = old;  // removes the previous package, if any
  return Status::Ok();
}

Status write_model_file(const std::string& path, const std::string& model_bytes) {
  IM_ASSIGN_OR_RETURN(auto w, AtomicFileWriter::open(path));
  IM_RETURN_IF_ERROR(w->write(model_bytes.data(), model_bytes.size()));
  return w->commit();
}

Result<PackageLayout> read_package_layout(const std::string& dir) {
  const fs::path root(dir);
  const std::string mpath = (root / "Manifest.json").string();
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return not_found(dir + ": not a directory (an .mlpackage is a directory)");
  IM_ASSIGN_OR_RETURN(std::string text, read_text_file(mpath));
  json m = json::parse(text, nullptr, false);
  if (m.is_discarded() || !m.is_object()) return parse_error(mpath + ": not a JSON object");
  if (!m.contains("fileFormatVersion") || !m["fileFormatVersion"].is_string())
    return parse_error(mpath + ": missing string `fileFormatVersion`");
  const std::string ver = m["fileFormatVersion"];
  int a = 0, b = 0, c = 0;
  char tail = 0;
  if (std::sscanf(ver.c_str(), "%d.%d.%d%c", &a, &b, &c, &tail) != 3)
    return parse_error(mpath + ": fileFormatVersion `" + ver + "` is not major.minor.patch");
  if (std::make_tuple(a, b, c) > std::make_tuple(1, 0, 0))
    return unsupported(mpath + ": fileFormatVersion " + ver + " is newer than 1.0.0");
  if (!m.contains("itemInfoEntries") || !m["itemInfoEntries"].is_object())
    return parse_error(mpath + ": missing object `itemInfoEntries`");
  if (!m.contains("rootModelIdentifier") || !m["rootModelIdentifier"].is_string())
    return parse_error(mpath + ": missing string `rootModelIdentifier`");
  PackageLayout out;
  out.root_identifier = m["rootModelIdentifier"];
  for (const auto& [id, item] : m["itemInfoEntries"].items()) {
    for (const char* k : {"author", "description", "name", "path"})
      if (!item.is_object() || !item.contains(k) || !item[k].is_string())
        return parse_error(mpath + ": itemInfoEntries[" + id + "] lacks string `" + k + "`");
    const std::string rel = item["path"];
    if (rel.find("..") != std::string::npos || (!rel.empty() && rel[0] == '/'))
      return parse_error(mpath + ": itemInfoEntries[" + id + "].path `" + rel + "` leaves the package");
    const fs::path p = root / "Data" / rel;
    if (!fs::exists(p, ec)) return not_found(mpath + ": itemInfoEntries[" + id + "].path: " + p.string() + " does not exist");
    if (id == out.root_identifier) out.model_path = p.string();
    else if (item["name"] == kWeightsDirName || fs::is_directory(p, ec)) out.weights_dir = p.string();
  }
  if (out.model_path.empty())
    return parse_error(mpath + ": rootModelIdentifier " + out.root_identifier + " is not in itemInfoEntries");
  return out;
}

}  // namespace ironmill::formats::coreml
