#include "frontends/templates/weights.h"

#include "formats/safetensors/safetensors.h"

namespace ironmill::templates {
namespace {

namespace st = formats::safetensors;

// Loads one checkpoint tensor and widens it to fp32 (bf16/fp16 checkpoints feed fp32 programs).
class Fp32LazySource final : public mil::LazyTensorSource {
 public:
  Fp32LazySource(std::shared_ptr<const st::Checkpoint> ckpt, std::string name, std::string where)
      : ckpt_(std::move(ckpt)), name_(std::move(name)), where_(std::move(where)) {}
  Result<mil::Tensor> load() const override {
    IM_ASSIGN_OR_RETURN(mil::Tensor t, ckpt_->tensor(name_));
    if (t.dtype() == mil::DType::kFp32) return t;
    if (!mil::is_float(t.dtype()))
      return invalid_argument(describe() + ": float tensor expected, got " + std::string(mil::dtype_name(t.dtype())));
    return t.cast_to(mil::DType::kFp32);
  }
  std::string describe() const override { return where_ + ":" + name_; }

 private:
  std::shared_ptr<const st::Checkpoint> ckpt_;
  std::string name_, where_;
};

class SafeTensorsWeights final : public WeightSource {
 public:
  SafeTensorsWeights(std::shared_ptr<const st::Checkpoint> ckpt, std::string path)
      : ckpt_(std::move(ckpt)), path_(std::move(path)) {}
  std::string describe() const override { return path_; }
  std::vector<std::string> names() const override { return ckpt_->tensor_names(); }
  std::optional<mil::Shape> shape(const std::string& name) const override {
    const st::TensorInfo* info = ckpt_->find(name);
    if (!info) return std::nullopt;
    return info->shape;
  }
  std::optional<mil::DType> dtype(const std::string& name) const override {
    const st::TensorInfo* info = ckpt_->find(name);
    if (!info) return std::nullopt;
    return info->dtype;
  }
  Result<mil::Value> fp32_constant(const std::string& name) const override {
    const st::TensorInfo* info = ckpt_->find(name);
    if (!info) return not_found(path_ + ": missing tensor `" + name + "`");
    if (!mil::is_float(info->dtype))
      return invalid_argument(path_ + ": tensor `" + name + "` is " + std::string(mil::dtype_name(info->dtype)) +
                              ", a float tensor was expected");
    mil::Value v;
    v.type = mil::Type::tensor(mil::DType::kFp32, info->shape);
    v.data = std::shared_ptr<const mil::LazyTensorSource>(std::make_shared<Fp32LazySource>(ckpt_, name, path_));
    return v;
  }
  Result<mil::Tensor> fp32_tensor(const std::string& name) const override {
    if (!ckpt_->find(name)) return not_found(path_ + ": missing tensor `" + name + "`");
    return Fp32LazySource(ckpt_, name, path_).load();
  }

 private:
  std::shared_ptr<const st::Checkpoint> ckpt_;
  std::string path_;
};

}  // namespace

Result<std::unique_ptr<WeightSource>> open_safetensors_weights(const std::string& path) {
  IM_ASSIGN_OR_RETURN(st::Checkpoint ckpt, st::Checkpoint::open(path));
  return std::unique_ptr<WeightSource>(
      std::make_unique<SafeTensorsWeights>(std::make_shared<const st::Checkpoint>(std::move(ckpt)), path));
}

}  // namespace ironmill::templates
