// .ironml-gpu writer (temp sibling directory, then rename over the target) and reader (one memory map per
// weight file; every field and size of the manifest is checked and errors name the file and field).
#include "engine/bundle/gpu_bundle.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "formats/mapped_file.h"

namespace ironmill::engine {
namespace fs = std::filesystem;
namespace {
constexpr int64_t kRowAlignment = 64;
constexpr const char* kEngine = "ironmill-cpu";

size_t padded(size_t n) { return (n + kRowAlignment - 1) / kRowAlignment * kRowAlignment; }

Status write_file(const fs::path& p, const void* data, size_t n) {
  std::ofstream f(p, std::ios::binary);
  if (!f) return io_error(p.string() + ": cannot create");
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  f.close();
  if (!f) return io_error(p.string() + ": write failed");
  return Status::Ok();
}

int64_t groups_of(const BundleTensorSource& t, int64_t cols) {
  const int64_t g = t.group_size > 0 ? t.group_size : cols;
  return (cols + g - 1) / g;
}

Status write_tensor(const fs::path& dir, const BundleTensorSource& t, nlohmann::json& entry) {
  if (t.shape.empty()) return invalid_argument("tensor " + t.name + ": empty shape");
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < t.shape.size(); ++i) rows *= t.shape[i];
  const int64_t cols = t.shape.back();
  const size_t rb = weight_row_bytes(t.format, cols);
  if (rb == 0 && cols != 0)
    return invalid_argument("tensor " + t.name + ": " + std::to_string(cols) + " columns do not fit " +
                            std::string(weight_format_name(t.format)) + " blocks");
  const size_t stride = padded(rb);
  std::vector<uint8_t> out(stride * static_cast<size_t>(rows), 0);
  for (int64_t r = 0; r < rows; ++r) std::memcpy(out.data() + r * stride, t.data + r * rb, rb);
  const std::string base = "weights/" + sanitize_tensor_name(t.name);
  IM_RETURN_IF_ERROR(write_file(dir / (base + ".bin"), out.data(), out.size()));
  entry = {{"format", std::string(weight_format_name(t.format))}, {"shape", t.shape}, {"rows", rows},
           {"cols", cols}, {"row_stride", stride}, {"file", base + ".bin"}};
  if (t.format == WeightFormat::kInt8PerChannel || t.format == WeightFormat::kInt4PerGroup) {
    if (!t.scales) return invalid_argument("tensor " + t.name + ": scales missing");
    const int64_t ns = t.format == WeightFormat::kInt8PerChannel ? rows : rows * groups_of(t, cols);
    IM_RETURN_IF_ERROR(write_file(dir / (base + ".scale"), t.scales, static_cast<size_t>(ns) * 4));
    entry["scales_file"] = base + ".scale";
    if (t.format == WeightFormat::kInt4PerGroup) {
      if (!t.zeros) return invalid_argument("tensor " + t.name + ": zeros missing");
      IM_RETURN_IF_ERROR(write_file(dir / (base + ".zeros"), t.zeros, static_cast<size_t>(ns) * 4));
      entry["zeros_file"] = base + ".zeros";
      entry["group_size"] = t.group_size > 0 ? t.group_size : cols;
    }
  }
  return Status::Ok();
}

Result<std::string> read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return not_found(p.string() + ": cannot open");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Maps `file` (relative to the bundle) and checks it holds exactly `bytes`.
Result<std::shared_ptr<const formats::MappedFile>> map_exact(const fs::path& dir, const std::string& name,
                                                            const std::string& file, uint64_t bytes,
                                                            const std::string& field) {
  if (file.empty() || file.find("..") != std::string::npos || file[0] == '/')
    return invalid_argument("manifest.json: tensors." + name + "." + field + ": bad path '" + file + "'");
  IM_ASSIGN_OR_RETURN(auto m, formats::MappedFile::open((dir / file).string()));
  if (m->size() != bytes)
    return parse_error((dir / file).string() + ": " + std::to_string(m->size()) + " bytes, manifest.json (tensors." +
                       name + ") needs " + std::to_string(bytes));
  return m;
}
}  // namespace

std::string sanitize_tensor_name(std::string_view name) {
  std::string s(name);
  for (char& c : s)
    if (c == '.' || c == '/') c = '_';
  return s;
}

std::optional<WeightFormat> weight_format_from_name(std::string_view name) {
  for (WeightFormat f : {WeightFormat::kF32, WeightFormat::kF16, WeightFormat::kBF16, WeightFormat::kInt8PerChannel,
                         WeightFormat::kInt4PerGroup, WeightFormat::kQ4_0, WeightFormat::kQ8_0, WeightFormat::kQ4_K,
                         WeightFormat::kQ6_K})
    if (weight_format_name(f) == name) return f;
  return std::nullopt;
}

Status write_gpu_bundle(const std::string& path, std::string_view config_json, std::string_view source,
                        const std::vector<BundleTensorSource>& tensors, const BundleModelInfo& model) {
  const fs::path target(path);
  const fs::path tmp = target.string() + ".tmp-" + std::to_string(::getpid());
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp / "weights", ec);
  if (ec) return io_error(tmp.string() + ": " + ec.message());
  auto fail = [&](Status s) {
    fs::remove_all(tmp, ec);
    return s;
  };
  nlohmann::json manifest = {{"format_version", 1}, {"engine", kEngine}, {"row_alignment", kRowAlignment},
                             {"source", std::string(source)}, {"tensors", nlohmann::json::object()}};
  if (!model.model_config_json.empty()) {
    nlohmann::json mc = nlohmann::json::parse(model.model_config_json, nullptr, /*allow_exceptions=*/false);
    if (mc.is_discarded() || !mc.is_object()) return fail(invalid_argument("model_config: not a JSON object"));
    manifest["model_config"] = std::move(mc);
  }
  manifest["tensor_names"] = model.tensor_names;
  manifest["qk_rows_interleaved"] = model.qk_rows_interleaved;
  for (const auto& [from, name] : model.extra_files) {
    if (name.empty() || name.find('/') != std::string::npos || name == "manifest.json" || name == "config.json")
      return fail(invalid_argument("extra file name '" + name + "' is not a plain, free name"));
    fs::copy_file(from, tmp / name, fs::copy_options::overwrite_existing, ec);
    if (ec) return fail(io_error(from + ": cannot copy into the bundle: " + ec.message()));
  }
  std::map<std::string, std::string> sanitized;
  for (const auto& t : tensors) {
    auto [it, fresh] = sanitized.emplace(sanitize_tensor_name(t.name), t.name);
    if (!fresh) return fail(invalid_argument("tensors " + it->second + " and " + t.name + " share the file name " + it->first));
    nlohmann::json entry;
    Status s = write_tensor(tmp, t, entry);
    if (!s.ok()) return fail(s);
    manifest["tensors"][t.name] = std::move(entry);
  }
  const std::string m = manifest.dump(1);
  Status s = write_file(tmp / "config.json", config_json.data(), config_json.size());
  if (s.ok()) s = write_file(tmp / "manifest.json", m.data(), m.size());
  if (!s.ok()) return fail(s);
  // Replace the target: move the old one aside, rename the new one in, drop the old one.
  const fs::path old = target.string() + ".old-" + std::to_string(::getpid());
  if (fs::exists(target)) fs::rename(target, old, ec);
  if (ec) return fail(io_error(target.string() + ": " + ec.message()));
  fs::rename(tmp, target, ec);
  if (ec) return fail(io_error(target.string() + ": " + ec.message()));
  fs::remove_all(old, ec);
  return Status::Ok();
}

Result<LoadedBundle> open_gpu_bundle(const std::string& path) {
  const fs::path dir(path);
  IM_ASSIGN_OR_RETURN(std::string text, read_text(dir / "manifest.json"));
  nlohmann::json m = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  const std::string where = (dir / "manifest.json").string();
  if (m.is_discarded() || !m.is_object()) return parse_error(where + ": not a JSON object");
  if (!m.contains("format_version") || m["format_version"] != 1)
    return unsupported(where + ": format_version must be 1");
  if (!m.contains("engine") || m["engine"] != kEngine)
    return unsupported(where + ": engine must be \"" + std::string(kEngine) + "\"");
  if (!m.contains("tensors") || !m["tensors"].is_object()) return parse_error(where + ": tensors: missing or not an object");
  LoadedBundle out;
  IM_ASSIGN_OR_RETURN(out.config_json, read_text(dir / "config.json"));
  if (m.contains("source") && m["source"].is_string()) out.source = m["source"];
  if (m.contains("model_config")) {
    if (!m["model_config"].is_object()) return parse_error(where + ": model_config: not an object");
    out.model_config_json = m["model_config"].dump();
  }
  if (m.contains("tensor_names")) {
    if (!m["tensor_names"].is_string() || (m["tensor_names"] != "hf" && m["tensor_names"] != "gguf"))
      return parse_error(where + ": tensor_names: must be \"hf\" or \"gguf\"");
    out.tensor_names = m["tensor_names"];
  }
  if (m.contains("qk_rows_interleaved")) {
    if (!m["qk_rows_interleaved"].is_boolean()) return parse_error(where + ": qk_rows_interleaved: not a boolean");
    out.qk_rows_interleaved = m["qk_rows_interleaved"];
  }
  for (const auto& [name, e] : m["tensors"].items()) {
    const std::string field = where + ": tensors." + name;
    auto get_int = [&](const char* key) -> Result<int64_t> {
      if (!e.is_object() || !e.contains(key) || !e[key].is_number_integer() || e[key].get<int64_t>() < 0)
        return parse_error(field + "." + key + ": missing or not a non-negative integer");
      return e[key].get<int64_t>();
    };
    auto get_str = [&](const char* key) -> Result<std::string> {
      if (!e.is_object() || !e.contains(key) || !e[key].is_string()) return parse_error(field + "." + key + ": missing or not a string");
      return e[key].get<std::string>();
    };
    IM_ASSIGN_OR_RETURN(std::string fmt_name, get_str("format"));
    const auto fmt = weight_format_from_name(fmt_name);
    if (!fmt) return unsupported(field + ".format: unknown format '" + fmt_name + "'");
    IM_ASSIGN_OR_RETURN(int64_t rows, get_int("rows"));
    IM_ASSIGN_OR_RETURN(int64_t cols, get_int("cols"));
    IM_ASSIGN_OR_RETURN(int64_t stride, get_int("row_stride"));
    IM_ASSIGN_OR_RETURN(std::string file, get_str("file"));
    if (!e.contains("shape") || !e["shape"].is_array() || e["shape"].empty()) return parse_error(field + ".shape: missing");
    std::vector<int64_t> shape;
    int64_t prod = 1;
    for (const auto& d : e["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0 || d.get<int64_t>() > (int64_t{1} << 40))
        return parse_error(field + ".shape: not a list of non-negative integers");
      shape.push_back(d.get<int64_t>());
    }
    for (size_t i = 0; i + 1 < shape.size(); ++i) prod *= shape[i];
    if (prod != rows || shape.back() != cols) return parse_error(field + ": rows/cols do not match shape");
    const size_t rb = weight_row_bytes(*fmt, cols);
    if ((rb == 0 && cols != 0) || static_cast<size_t>(stride) < rb || stride % kRowAlignment != 0)
      return parse_error(field + ".row_stride: " + std::to_string(stride) + " is not a 64-byte multiple >= the " +
                         std::to_string(rb) + "-byte " + fmt_name + " row");
    if (rows > 0 && static_cast<uint64_t>(stride) > (uint64_t{1} << 50) / static_cast<uint64_t>(rows))
      return parse_error(field + ": size overflows");
    IM_ASSIGN_OR_RETURN(auto data, map_exact(dir, name, file, static_cast<uint64_t>(rows * stride), "file"));
    WeightMatrix w;
    w.format = *fmt;
    w.rows = rows;
    w.cols = cols;
    w.data = data->data();
    w.row_bytes = static_cast<size_t>(stride);
    std::vector<std::shared_ptr<const formats::MappedFile>> keep{data};
    if (*fmt == WeightFormat::kInt8PerChannel || *fmt == WeightFormat::kInt4PerGroup) {
      int64_t ns = rows;
      if (*fmt == WeightFormat::kInt4PerGroup) {
        IM_ASSIGN_OR_RETURN(w.group_size, get_int("group_size"));
        if (w.group_size == 0) return parse_error(field + ".group_size: must be > 0");
        ns = rows * ((cols + w.group_size - 1) / w.group_size);
      }
      IM_ASSIGN_OR_RETURN(std::string sf, get_str("scales_file"));
      IM_ASSIGN_OR_RETURN(auto scales, map_exact(dir, name, sf, static_cast<uint64_t>(ns) * 4, "scales_file"));
      w.scales = reinterpret_cast<const float*>(scales->data());
      keep.push_back(scales);
      if (*fmt == WeightFormat::kInt4PerGroup) {
        IM_ASSIGN_OR_RETURN(std::string zf, get_str("zeros_file"));
        IM_ASSIGN_OR_RETURN(auto zeros, map_exact(dir, name, zf, static_cast<uint64_t>(ns) * 4, "zeros_file"));
        w.zeros = reinterpret_cast<const float*>(zeros->data());
        keep.push_back(zeros);
      }
    }
    w.keep_alive = std::make_shared<std::vector<std::shared_ptr<const formats::MappedFile>>>(std::move(keep));
    out.shapes[name] = shape;
    out.weights.emplace(name, std::move(w));
  }
  return out;
}

}  // namespace ironmill::engine
