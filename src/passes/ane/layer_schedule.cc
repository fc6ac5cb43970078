#include "passes/ane/layer_schedule.h"

#include <functional>
#include <numeric>
#include <set>
#include <sstream>

namespace ironmill::passes::ane {
namespace {

const std::set<std::string> kActivations = {"relu", "relu6", "silu", "gelu", "sigmoid", "tanh", "softplus", "softsign",
                                            "elu", "leaky_relu", "sigmoid_hard", "erf"};
const std::set<std::string> kNorms = {"layer_norm", "batch_norm", "instance_norm", "l2_norm", "local_response_norm"};

std::vector<std::string> refs(const mil::Operation& op) {
  std::vector<std::string> r;
  for (const auto& [k, a] : op.inputs)
    for (const auto& b : a.bindings)
      if (b.is_ref()) r.push_back(b.name);
  return r;
}

}  // namespace

Result<LayerStrategies> parse_layer_strategies(const std::string& spec) {
  LayerStrategies s;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string::npos) return invalid_argument("layer strategies: `" + item + "` is not KEY=STRATEGY");
    const std::string key = item.substr(0, eq);
    auto v = parse_weight_strategy(item.substr(eq + 1));
    if (!v.ok()) return v.status().with_context("layer strategies: `" + key + "`");
    if (key == "attention") s.attention = *v;
    else if (key == "ffn") s.ffn = *v;
    else if (key == "conv") s.conv = *v;
    else if (key == "norm") s.norm = *v;
    else if (key == "other") s.other = *v;
    else return invalid_argument("layer strategies: unknown key `" + key + "` (conv, attention, ffn, norm, other)");
  }
  return s;
}

std::map<std::string, std::string> classify_layers(const mil::Function& f) {
  const auto& ops = f.body.operations;
  std::set<std::string> consts;
  for (const auto& op : ops)
    if (op.type == "const" || op.type.rfind("constexpr_", 0) == 0) consts.insert(op.outputs.at(0).name);
  // conv / linear with a const `weight`, matmul with a const `x` or `y` (not its transpose flags).
  auto weighted = [&](const mil::Operation& op) {
    auto const_slot = [&](const char* slot) {
      const auto* a = op.input(slot);
      return a && a->bindings.size() == 1 && a->bindings[0].is_ref() && consts.count(a->bindings[0].name) > 0;
    };
    if (op.type == "conv" || op.type == "linear") return const_slot("weight");
    return op.type == "matmul" && (const_slot("x") || const_slot("y"));
  };
  // Union-find over the non-weighted, non-const ops, joined through the values they share.
  std::vector<size_t> parent(ops.size());
  std::iota(parent.begin(), parent.end(), 0);
  std::function<size_t(size_t)> find = [&](size_t i) { return parent[i] == i ? i : parent[i] = find(parent[i]); };
  std::map<std::string, size_t> producer;
  for (size_t i = 0; i < ops.size(); ++i)
    for (const auto& o : ops[i].outputs) producer[o.name] = i;
  auto plain = [&](size_t i) { return !consts.count(ops[i].outputs.at(0).name) && !weighted(ops[i]); };
  for (size_t i = 0; i < ops.size(); ++i) {
    if (!plain(i)) continue;
    for (const auto& r : refs(ops[i]))
      if (auto it = producer.find(r); it != producer.end() && plain(it->second)) parent[find(i)] = find(it->second);
  }
  std::map<size_t, bool> has_softmax, has_act;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (!plain(i)) continue;
    has_softmax[find(i)] |= ops[i].type == "softmax";
    has_act[find(i)] |= kActivations.count(ops[i].type) > 0;
  }
  std::map<std::string, std::vector<size_t>> consumers;
  for (size_t i = 0; i < ops.size(); ++i)
    for (const auto& r : refs(ops[i])) consumers[r].push_back(i);
  std::map<std::string, std::string> kind;
  for (size_t i = 0; i < ops.size(); ++i) {
    const auto& op = ops[i];
    if (kNorms.count(op.type)) {
      kind[op.name()] = "norm";
      continue;
    }
    if (!weighted(op)) continue;
    std::set<size_t> near;
    for (const auto& r : refs(op))
      if (auto it = producer.find(r); it != producer.end() && plain(it->second)) near.insert(find(it->second));
    for (size_t c : consumers[op.outputs.at(0).name])
      if (plain(c)) near.insert(find(c));
    bool attn = false, act = false;
    for (size_t c : near) attn |= has_softmax[c], act |= has_act[c];
    kind[op.name()] = attn ? "attention" : act ? "ffn" : op.type == "conv" ? "conv" : "other";
  }
  return kind;
}

Result<bool> LayerSchedulePass::run(mil::Program& program) {
  bool changed = false;
  for (auto& f : program.functions) {
    const auto kinds = classify_layers(f);
    std::map<std::string, WeightStrategy> per_const;
    for (const auto& op : f.body.operations) {
      auto it = kinds.find(op.name());
      if (it == kinds.end()) continue;
      const WeightStrategy s = it->second == "attention" ? s_.attention
                               : it->second == "ffn"     ? s_.ffn
                               : it->second == "conv"    ? s_.conv
                               : it->second == "norm"    ? s_.norm
                                                         : s_.other;
      for (const auto& [slot, a] : op.inputs) {
        if (slot == "x" && op.type != "matmul") continue;  // the activation, never a weight
        for (const auto& b : a.bindings)
          if (b.is_ref()) per_const.emplace(b.name, s);  // a const shared by two kinds: the first wins
      }
    }
    for (auto& op : f.body.operations) {
      if (op.type != "const") continue;
      auto it = per_const.find(op.outputs.at(0).name);
      if (it == per_const.end()) continue;
      IM_ASSIGN_OR_RETURN(bool c, compress_weight(op, it->second, f.opset));
      changed |= c;
    }
  }
  return changed;
}

}  // namespace ironmill::passes::ane
