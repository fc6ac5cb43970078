#include "engine/weights.h"

#include <filesystem>

#include "engine/bundle/gpu_bundle.h"
#include "formats/gguf/gguf.h"
#include "formats/safetensors/safetensors.h"
#include "frontends/gguf_export/gguf_export.h"
#include "frontends/templates/template.h"

namespace ironmill::engine {
namespace {

namespace st = formats::safetensors;
namespace gg = formats::gguf;

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

class SafeTensorsStore final : public WeightStore {
 public:
  SafeTensorsStore(st::Checkpoint ckpt, std::string path) : ckpt_(std::move(ckpt)), path_(std::move(path)) {}
  std::string describe() const override { return path_; }
  bool has(const std::string& name) const override { return ckpt_.find(name) != nullptr; }

  Result<WeightMatrix> matrix(const std::string& name, int64_t rows, int64_t cols) const override {
    IM_ASSIGN_OR_RETURN(mil::Tensor t, tensor(name));
    if (t.rank() != 2 || t.dim(0) != rows || t.dim(1) != cols)
      return invalid_argument(path_ + ": tensor `" + name + "` has shape " + shape_text(t.shape()) + ", expected [" +
                              std::to_string(rows) + ", " + std::to_string(cols) + "]");
    WeightMatrix w;
    switch (t.dtype()) {
      case mil::DType::kFp32: w.format = WeightFormat::kF32; break;
      case mil::DType::kFp16: w.format = WeightFormat::kF16; break;
      case mil::DType::kBf16: w.format = WeightFormat::kBF16; break;
      default:
        return invalid_argument(path_ + ": tensor `" + name + "` is " + std::string(mil::dtype_name(t.dtype())) +
                                "; the engine reads fp32, fp16 and bf16 SafeTensors matrices");
    }
    w.rows = rows;
    w.cols = cols;
    w.row_bytes = static_cast<size_t>(cols) * mil::dtype_element_bytes(t.dtype());
    auto keep = std::make_shared<mil::Tensor>(std::move(t));
    w.data = keep->raw();
    w.keep_alive = keep;
    return w;
  }

  Result<std::vector<float>> vector(const std::string& name, int64_t n) const override {
    IM_ASSIGN_OR_RETURN(mil::Tensor t, tensor(name));
    if (t.numel() != n)
      return invalid_argument(path_ + ": tensor `" + name + "` has shape " + shape_text(t.shape()) + ", expected " +
                              std::to_string(n) + " elements");
    if (!mil::is_float(t.dtype()))
      return invalid_argument(path_ + ": tensor `" + name + "` is " + std::string(mil::dtype_name(t.dtype())) +
                              ", a float tensor was expected");
    return t.to_f32();
  }

 private:
  Result<mil::Tensor> tensor(const std::string& name) const {
    if (!ckpt_.find(name)) return not_found(path_ + ": missing tensor `" + name + "`");
    return ckpt_.tensor(name);
  }
  st::Checkpoint ckpt_;
  std::string path_;
};

class GgufStore final : public WeightStore {
 public:
  GgufStore(gg::File file, std::string path, bool interleaved)
      : file_(std::move(file)), path_(std::move(path)), interleaved_(interleaved) {}
  std::string describe() const override { return path_; }
  bool qk_rows_interleaved() const override { return interleaved_; }
  bool has(const std::string& name) const override {
    auto g = templates_name(name);
    return g.ok() && file_.find_tensor(*g) != nullptr;
  }

  Result<WeightMatrix> matrix(const std::string& name, int64_t rows, int64_t cols) const override {
    IM_ASSIGN_OR_RETURN(std::string gname, templates_name(name));
    const gg::TensorInfo* info = file_.find_tensor(gname);
    if (!info) return not_found(path_ + ": missing tensor `" + gname + "` (" + name + ")");
    if (info->ne.size() != 2 || info->ne[0] != cols || info->ne[1] != rows)
      return invalid_argument(path_ + ": tensor `" + gname + "` has ne " + shape_text(info->ne) + ", expected [" +
                              std::to_string(cols) + ", " + std::to_string(rows) + "]");
    WeightMatrix w;
    switch (info->type) {
      case gg::GgmlType::kF32: w.format = WeightFormat::kF32; break;
      case gg::GgmlType::kF16: w.format = WeightFormat::kF16; break;
      case gg::GgmlType::kBF16: w.format = WeightFormat::kBF16; break;
      case gg::GgmlType::kQ4_0: w.format = WeightFormat::kQ4_0; break;
      case gg::GgmlType::kQ8_0: w.format = WeightFormat::kQ8_0; break;
      case gg::GgmlType::kQ4_K: w.format = WeightFormat::kQ4_K; break;
      case gg::GgmlType::kQ6_K: w.format = WeightFormat::kQ6_K; break;
      default:
        return invalid_argument(path_ + ": tensor `" + gname + "` is " + std::string(gg::ggml_type_name(info->type)) +
                                "; the engine reads f32, f16, bf16, q4_0, q8_0, q4_K and q6_K");
    }
    IM_ASSIGN_OR_RETURN(auto bytes, file_.tensor_bytes(gname));
    w.rows = rows;
    w.cols = cols;
    w.row_bytes = weight_row_bytes(w.format, cols);
    if (w.row_bytes == 0 || w.row_bytes * static_cast<size_t>(rows) != bytes.size())
      return invalid_argument(path_ + ": tensor `" + gname + "`: " + std::to_string(bytes.size()) +
                              " bytes do not hold " + std::to_string(rows) + " rows of " + std::to_string(cols));
    w.data = bytes.data();
    w.keep_alive = std::make_shared<gg::File>(file_);
    return w;
  }

  Result<std::vector<float>> vector(const std::string& name, int64_t n) const override {
    IM_ASSIGN_OR_RETURN(std::string gname, templates_name(name));
    if (!file_.find_tensor(gname)) return not_found(path_ + ": missing tensor `" + gname + "` (" + name + ")");
    IM_ASSIGN_OR_RETURN(mil::Tensor t, file_.dequantize(gname));
    if (t.numel() != n)
      return invalid_argument(path_ + ": tensor `" + gname + "` has " + std::to_string(t.numel()) + " elements, expected " +
                              std::to_string(n));
    return t.to_f32();
  }

 private:
  static Result<std::string> templates_name(const std::string& hf) { return frontends::gguf_export::gguf_tensor_name(hf); }
  gg::File file_;
  std::string path_;
  bool interleaved_;
};

// A .ironml-gpu bundle: the matrices are the bundle's memory maps as written (rows padded to 64-byte
// strides, which the kernels take as row_bytes), so nothing is repacked or dequantized at load.
class BundleStore final : public WeightStore {
 public:
  BundleStore(LoadedBundle b, std::string path) : b_(std::move(b)), path_(std::move(path)) {}
  std::string describe() const override { return path_; }
  bool qk_rows_interleaved() const override { return b_.qk_rows_interleaved; }
  bool has(const std::string& name) const override {
    auto s = stored_name(name);
    return s.ok() && b_.weights.count(*s) != 0;
  }

  Result<WeightMatrix> matrix(const std::string& name, int64_t rows, int64_t cols) const override {
    IM_ASSIGN_OR_RETURN(const WeightMatrix* w, find(name));
    if (w->rows != rows || w->cols != cols)
      return invalid_argument(path_ + ": tensor `" + name + "` has shape " + shape_text(b_.shapes.at(*stored_name(name))) +
                              ", expected [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
    return *w;
  }

  Result<std::vector<float>> vector(const std::string& name, int64_t n) const override {
    IM_ASSIGN_OR_RETURN(const WeightMatrix* w, find(name));
    if (w->rows * w->cols != n)
      return invalid_argument(path_ + ": tensor `" + name + "` has shape " + shape_text(b_.shapes.at(*stored_name(name))) +
                              ", expected " + std::to_string(n) + " elements");
    std::vector<float> out(static_cast<size_t>(n));
    for (int64_t r = 0; r < w->rows; ++r) dequantize_row(*w, r, out.data() + r * w->cols);
    return out;
  }

 private:
  Result<std::string> stored_name(const std::string& hf) const {
    if (b_.tensor_names == "gguf") return frontends::gguf_export::gguf_tensor_name(hf);
    return hf;
  }
  Result<const WeightMatrix*> find(const std::string& hf) const {
    IM_ASSIGN_OR_RETURN(std::string s, stored_name(hf));
    auto it = b_.weights.find(s);
    if (it == b_.weights.end())
      return not_found(path_ + "/manifest.json: tensors: missing tensor `" + s + "`" + (s == hf ? "" : " (" + hf + ")"));
    return &it->second;
  }
  LoadedBundle b_;
  std::string path_;
};

}  // namespace

bool is_gpu_bundle_path(const std::string& path) {
  std::filesystem::path p(path);
  if (!p.has_filename()) p = p.parent_path();  // a trailing '/'
  return p.extension() == ".ironml-gpu";
}

Result<LoadedWeights> load_weights(const std::string& path) {
  LoadedWeights out;
  if (is_gpu_bundle_path(path)) {
    IM_ASSIGN_OR_RETURN(LoadedBundle b, open_gpu_bundle(path));
    const std::string where = (std::filesystem::path(path) / "manifest.json").string() + " (model_config)";
    if (b.model_config_json.empty())
      return parse_error((std::filesystem::path(path) / "manifest.json").string() +
                         ": model_config: missing (bundles written before the engine read them; recompile)");
    IM_ASSIGN_OR_RETURN(out.config, formats::hf::parse_model_config(nlohmann::json::parse(b.model_config_json), where));
    IM_RETURN_IF_ERROR(templates::check_supported(out.config));
    out.store = std::make_unique<BundleStore>(std::move(b), path);
    return out;
  }
  if (templates::is_gguf_path(path)) {
    IM_ASSIGN_OR_RETURN(templates::LoadedModel m, templates::load_gguf_model(path));
    out.config = std::move(m.config);
    IM_ASSIGN_OR_RETURN(gg::File f, gg::File::open(path));
    IM_ASSIGN_OR_RETURN(std::string arch, f.get_string("general.architecture"));
    out.store = std::make_unique<GgufStore>(std::move(f), path, arch == "llama");
    return out;
  }
  IM_ASSIGN_OR_RETURN(out.config, formats::hf::load_model_config(path));
  IM_RETURN_IF_ERROR(templates::check_supported(out.config));
  IM_ASSIGN_OR_RETURN(st::Checkpoint ckpt, st::Checkpoint::open(path));
  out.store = std::make_unique<SafeTensorsStore>(std::move(ckpt), path);
  return out;
}

}  // namespace ironmill::engine
