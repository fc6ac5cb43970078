#include "mil/ir.h"

namespace ironmill::mil {

std::string Operation::name() const {
  auto it = attributes.find("name");
  if (it != attributes.end() && it->second.is_tensor() && it->second.tensor().dtype() == DType::kString &&
      it->second.tensor().numel() == 1)
    return it->second.tensor().get_string(0);
  return outputs.empty() ? type : outputs[0].name;
}

const Function* Program::function(const std::string& n) const {
  for (const auto& f : functions)
    if (f.name == n) return &f;
  return nullptr;
}
Function* Program::function(const std::string& n) {
  for (auto& f : functions)
    if (f.name == n) return &f;
  return nullptr;
}

static size_t count_ops(const Block& b) {
  size_t n = 0;
  for (const auto& op : b.operations) {
    ++n;
    for (const auto& nb : op.blocks) n += count_ops(nb);
  }
  return n;
}
size_t Program::op_count() const {
  size_t n = 0;
  for (const auto& f : functions) n += count_ops(f.body);
  return n;
}

std::optional<int> opset_version(const std::string& tag) {
  if (tag.size() == 5 && tag.rfind("ios", 0) == 0 && isdigit(tag[3]) && isdigit(tag[4])) {
    int v = std::stoi(tag.substr(3));
    if (v >= 15 && v <= 18) return v;
  }
  if (tag == "ios26") return 18;  // [3P] tag; no iOS26-specific ops exist (coreml-format.md §5)
  return std::nullopt;
}
std::optional<std::string> opset_tag_from_proto(const std::string& p) {
  if (p.size() == 7 && p.rfind("CoreML", 0) == 0 && p[6] >= '5' && p[6] <= '9')
    return "ios" + std::to_string(10 + (p[6] - '0'));
  return std::nullopt;
}
std::string opset_proto_from_tag(const std::string& tag) {
  auto v = opset_version(tag);
  return v ? "CoreML" + std::to_string(*v - 10) : tag;
}

}  // namespace ironmill::mil
