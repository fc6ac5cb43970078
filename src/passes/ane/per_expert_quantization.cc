#include "passes/ane/per_expert_quantization.h"

#include <cctype>
#include <nlohmann/json.hpp>

namespace ironmill::passes::ane {

Result<PerExpertConfig> parse_per_expert_config(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return invalid_argument("per-expert config: not a JSON object");
  PerExpertConfig c;
  auto strategy = [](const nlohmann::json& v, const std::string& field) -> Result<WeightStrategy> {
    if (!v.is_string()) return invalid_argument("per-expert config: `" + field + "` must be a string");
    auto s = parse_weight_strategy(v.get<std::string>());
    if (!s.ok()) return s.status().with_context("per-expert config: `" + field + "`");
    return *s;
  };
  if (j.contains("shared_strategy")) {
    IM_ASSIGN_OR_RETURN(c.shared, strategy(j["shared_strategy"], "shared_strategy"));
  }
  if (j.contains("default_strategy")) {
    IM_ASSIGN_OR_RETURN(c.default_strategy, strategy(j["default_strategy"], "default_strategy"));
  }
  if (j.contains("experts")) {
    if (!j["experts"].is_array()) return invalid_argument("per-expert config: `experts` must be an array");
    for (size_t i = 0; i < j["experts"].size(); ++i) {
      const auto& e = j["experts"][i];
      const std::string where = "experts[" + std::to_string(i) + "]";
      if (!e.is_object() || !e.contains("expert_id") || !e["expert_id"].is_number_integer())
        return invalid_argument("per-expert config: `" + where + ".expert_id` must be an integer");
      const int64_t id = e["expert_id"].get<int64_t>();
      if (!e.contains("strategy")) return invalid_argument("per-expert config: `" + where + ".strategy` is missing");
      IM_ASSIGN_OR_RETURN(c.experts[id], strategy(e["strategy"], where + ".strategy"));
      if (e.contains("activation_frequency") && e["activation_frequency"].is_number())
        c.activation_frequency[id] = e["activation_frequency"].get<double>();
    }
  }
  return c;
}

std::optional<int64_t> expert_of(const std::string& name) {
  if (name.find("shared_expert") != std::string::npos) return -1;
  for (size_t at = name.find("experts"); at != std::string::npos; at = name.find("experts", at + 1)) {
    size_t i = at + 7;
    if (i >= name.size() || (name[i] != '.' && name[i] != '_')) continue;
    size_t j = ++i;
    while (j < name.size() && std::isdigit(static_cast<unsigned char>(name[j]))) ++j;
    if (j == i || j >= name.size() || (name[j] != '.' && name[j] != '_')) continue;
    return std::stoll(name.substr(i, j - i));
  }
  return std::nullopt;
}

Result<bool> PerExpertQuantizationPass::run(mil::Program& program) {
  bool changed = false;
  for (auto& f : program.functions)
    for (auto& op : f.body.operations) {
      if (!is_float_weight_const(op)) continue;
      auto e = expert_of(op.name());
      if (!e) e = expert_of(op.outputs.at(0).name);
      if (!e) continue;
      WeightStrategy s = config_.default_strategy;
      if (*e < 0) s = config_.shared;
      else if (auto it = config_.experts.find(*e); it != config_.experts.end()) s = it->second;
      IM_ASSIGN_OR_RETURN(bool c, compress_weight(op, s, f.opset));
      changed |= c;
    }
  return changed;
}

}  // namespace ironmill::passes::ane
