#include "backends/ane/policy.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "mil/op_registry.h"

namespace ironmill::backends::ane {
namespace {

using mil::DType;
using mil::Operation;
using mil::Type;
using mil::Value;

uint64_t type_bytes(const Type& t) {
  if (!t.is_tensor() || !t.fully_known()) return 0;
  const int bits = mil::dtype_bits(t.dtype);
  return (static_cast<uint64_t>(mil::shape_numel(t.dims)) * static_cast<uint64_t>(bits) + 7) / 8;
}

std::string human_bytes(uint64_t b) {
  char buf[48];
  if (b >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", b / double(1ull << 30));
  else if (b >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", b / double(1ull << 20));
  else if (b >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  return buf;
}

struct Scope {
  std::map<std::string, Type> types;
  std::map<std::string, const Value*> consts;
};

class OpChecker {
 public:
  OpChecker(const AneProfile& p, const Scope& s) : p_(p), s_(s) {}

  OpVerdict check(const Operation& op) {
    OpVerdict v;
    v.name = op.name();
    v.type = op.type;
    const OpRule& r = p_.op_rule(op.type);
    v.status = r.status;
    v.rule = p_.ops.count(op.type) ? "ops." + op.type : "default_rule";
    v.source = r.source;
    v.message = std::string(op_status_name(r.status)) +
                (p_.ops.count(op.type) ? " in the profile's op list" : ": " + r.note);
    if (r.status == OpStatus::kRejected) {
      if (!r.workaround.empty()) v.message += " (workaround: " + r.workaround + ")";
      return v;
    }
    auto reject = [&](std::string rule, std::string source, std::string msg) {
      v.status = OpStatus::kRejected;
      v.rule = std::move(rule);
      v.source = std::move(source);
      v.message = std::move(msg);
    };
    if (!op.blocks.empty()) {
      const RuleInfo& pr = program_rule("no_control_flow");
      reject("program_rules.no_control_flow", pr.source, "nested blocks cannot run on the ANE");
      return v;
    }
    // Dtype paths.
    std::vector<std::pair<std::string, Type>> tensors;
    for (const auto& [name, arg] : op.inputs)
      for (const auto& b : arg.bindings) {
        const Type* t = b.is_ref() ? find_type(b.name) : &b.value->type;
        if (t && t->is_tensor()) tensors.emplace_back("input `" + name + "`", *t);
      }
    for (const auto& [name, val] : op.attributes)
      if (name != "name" && val.type.is_tensor()) tensors.emplace_back("parameter `" + name + "`", val.type);
    for (const auto& o : op.outputs)
      if (o.type.is_tensor()) tensors.emplace_back("output `" + o.name + "`", o.type);
    if (auto it = p_.dtypes.find("int4"); it != p_.dtypes.end())
      for (const auto& [what, t] : tensors)
        if (std::count(it->second.dtypes.begin(), it->second.dtypes.end(), t.dtype)) {
          reject("dtypes.int4", it->second.source,
                 what + " is " + std::string(mil::dtype_name(t.dtype)) + ": every INT4/UINT4 path is rejected");
          return v;
        }
    if (auto it = p_.dtypes.find("intermediates"); it != p_.dtypes.end())
      for (const auto& o : op.outputs)
        if (o.type.is_tensor() && !std::count(it->second.dtypes.begin(), it->second.dtypes.end(), o.type.dtype)) {
          reject("dtypes.intermediates", it->second.source,
                 "output `" + o.name + "` is " + std::string(mil::dtype_name(o.type.dtype)) + ": no ANE path for that dtype");
          return v;
        }
    if (auto it = p_.dtypes.find("integer_arithmetic"); it != p_.dtypes.end())
      if (std::count(it->second.ops.begin(), it->second.ops.end(), op.type))
        for (const char* in : {"x", "y"})
          if (const Type* t = input_type(op, in); t && mil::is_int(t->dtype)) {
            reject("dtypes.integer_arithmetic", it->second.source,
                   std::string("integer arithmetic on ") + std::string(mil::dtype_name(t->dtype)) + " is rejected (INT8 is storage-only)");
            return v;
          }
    if (op.type == "cast") {
      const Type* from = input_type(op, "x");
      if (from && !op.outputs.empty()) {
        const DType to = op.outputs[0].type.dtype;
        if (from->dtype != to) {
          const CastRule* c = p_.cast_rule(from->dtype, to);
          const std::string path = std::string(mil::dtype_name(from->dtype)) + "->" + std::string(mil::dtype_name(to));
          if (!c) {
            reject("cast_paths", r.source, "cast " + path + " is not a verified ANE cast path");
            return v;
          }
          if (c->status == OpStatus::kRejected) {
            reject("cast_paths", c->source, "cast " + path + " is rejected");
            return v;
          }
          if (c->status == OpStatus::kCompile) {
            v.status = OpStatus::kCompile;
            v.rule = "cast_paths";
            v.source = c->source;
            v.message = "cast " + path + " compiles (numerics not verified on hardware)";
          }
        }
      }
    }
    for (const auto& rq : p_.required_inputs)
      if (rq.op == op.type && !op.inputs.count(rq.input) && !op.attributes.count(rq.input)) {
        reject("required_inputs", rq.source,
               "`" + rq.input + "` must be given explicitly (the ANE compiler rejects `" + op.type + "` without it)");
        return v;
      }
    for (const auto& cq : p_.const_inputs) {
      if (cq.op != op.type) continue;
      const mil::Argument* a = op.input(cq.input);
      if (!a) continue;  // a schema default is a constant
      const Value* c = a->bindings.size() == 1 ? const_of(a->bindings[0]) : nullptr;
      if (!c) {
        reject("const_inputs", cq.source, "`" + cq.input + "` must be a constant");
        return v;
      }
      if (cq.scalar && c->type.is_tensor() && mil::shape_numel(c->type.dims) != 1) {
        reject("const_inputs", cq.source, "`" + cq.input + "` must be a scalar constant");
        return v;
      }
    }
    if (op.type == "pad" && !p_.pad_modes.empty()) {
      std::string mode = "constant";
      if (const mil::Argument* a = op.input("mode"))
        if (const Value* c = const_of(a->bindings[0]); c && c->is_tensor()) mode = c->tensor().get_string(0);
      if (!std::count(p_.pad_modes.begin(), p_.pad_modes.end(), mode)) {
        reject("pad_modes", p_.pad_modes_rule.source, "pad mode `" + mode + "` (only constant mode verified)");
        return v;
      }
    }
    if (op.type == "scaled_dot_product_attention" && op.inputs.count("attn_mask")) {
      reject("program_rules.sdpa_mask", program_rule("sdpa_mask").source,
             "the ANE ignores SDPA masks: decompose attention (ane-attention-decompose) so the mask is an explicit add");
      return v;
    }
    // Shapes and limits.
    const int64_t max_dim = p_.limit("max_dim", 16384), max_rank = p_.limit("max_rank", 5);
    for (const auto& [what, t] : tensors) {
      if (!t.fully_known()) {
        reject("program_rules.static_shapes", program_rule("static_shapes").source, what + " has a dynamic shape");
        return v;
      }
      if (t.rank() > max_rank) {
        reject("limits.max_rank", p_.limits.at("max_rank").source,
               what + " has rank " + std::to_string(t.rank()) + " > " + std::to_string(max_rank));
        return v;
      }
      for (int64_t d : t.dims)
        if (d > max_dim) {
          reject("limits.max_dim", p_.limits.count("max_dim") ? p_.limits.at("max_dim").source : "",
                 what + " has a dimension of " + std::to_string(d) + " > " + std::to_string(max_dim));
          return v;
        }
    }
    if (op.type == "conv")
      if (const Type* w = input_type(op, "weight"); w && w->rank() >= 3) {
        const int64_t k = p_.limit("max_conv_kernel", 16);
        for (int i = 2; i < w->rank(); ++i)
          if (w->dims[i] > k) {
            reject("limits.max_conv_kernel", p_.limits.at("max_conv_kernel").source,
                   "conv kernel extent " + std::to_string(w->dims[i]) + " > " + std::to_string(k));
            return v;
          }
      }
    if (op.type == "matmul" || op.type == "linear")
      if (const Type* x = input_type(op, "x"); x && x->rank() >= 1) {
        const int64_t inner = x->dims.back(), lim = p_.limit("max_matmul_inner", 16384);
        if (inner > lim) {
          reject("limits.max_matmul_inner", p_.limits.at("max_matmul_inner").source,
                 "inner dimension " + std::to_string(inner) + " > " + std::to_string(lim));
          return v;
        }
      }
    return v;
  }

  const RuleInfo& program_rule(const std::string& k) const {
    static const RuleInfo kNone;
    auto it = p_.program_rules.find(k);
    return it == p_.program_rules.end() ? kNone : it->second;
  }

 private:
  const Type* find_type(const std::string& n) const {
    auto it = s_.types.find(n);
    return it == s_.types.end() ? nullptr : &it->second;
  }
  const Type* input_type(const Operation& op, const std::string& in) const {
    const mil::Argument* a = op.input(in);
    if (!a || a->bindings.size() != 1) return nullptr;
    const auto& b = a->bindings[0];
    return b.is_ref() ? find_type(b.name) : &b.value->type;
  }
  const Value* const_of(const mil::Binding& b) const {
    if (!b.is_ref()) return &*b.value;
    auto it = s_.consts.find(b.name);
    return it == s_.consts.end() ? nullptr : it->second;
  }
  const AneProfile& p_;
  const Scope& s_;
};

uint64_t value_bytes(const Value& v) {
  if (v.is_tensor() || std::holds_alternative<mil::BlobFileRef>(v.data) ||
      std::holds_alternative<std::shared_ptr<const mil::LazyTensorSource>>(v.data))
    return type_bytes(v.type);
  return 0;
}

}  // namespace

bool PolicyReport::compiles() const {
  for (const auto& f : findings)
    if (f.error) return false;
  for (const auto& o : ops)
    if (!o.on_ane()) return false;
  return true;
}
int PolicyReport::ane_ops() const {
  return static_cast<int>(std::count_if(ops.begin(), ops.end(), [](const OpVerdict& o) { return o.on_ane(); }));
}
int PolicyReport::fallback_ops() const { return static_cast<int>(ops.size()) - ane_ops(); }
int PolicyReport::eval_ops() const {
  return static_cast<int>(std::count_if(ops.begin(), ops.end(), [](const OpVerdict& o) { return o.status == OpStatus::kEval; }));
}

OpVerdict evaluate_op_kind(const std::string& op_type, const AneProfile& profile) {
  const OpRule& r = profile.op_rule(op_type);
  OpVerdict v;
  v.type = op_type;
  v.status = r.status;
  v.rule = profile.ops.count(op_type) ? "ops." + op_type : "default_rule";
  v.source = r.source;
  v.message = r.status == OpStatus::kRejected ? (r.workaround.empty() ? r.note : "workaround: " + r.workaround)
                                              : std::string(op_status_name(r.status));
  return v;
}

PolicyReport evaluate_program(const mil::Program& program, const AneProfile& p, const std::string& function) {
  PolicyReport rep;
  rep.profile = p.name;
  rep.chip = p.chip;
  rep.function = function;
  const mil::Function* f = program.function(function);
  auto finding = [&](bool error, const std::string& rule, const std::string& source, const std::string& msg) {
    rep.findings.push_back({error, rule, source, msg});
  };
  auto prule = [&](const std::string& k) -> std::string {
    auto it = p.program_rules.find(k);
    return it == p.program_rules.end() ? "" : it->second.source;
  };
  if (!f) {
    finding(true, "function", "", "function `" + function + "` not in program");
    return rep;
  }
  Scope scope;
  for (const auto& in : f->inputs) scope.types[in.name] = in.type;
  OpChecker checker(p, scope);
  std::set<std::string> slice_warned;
  for (const auto& op : f->body.operations) {
    for (const auto& o : op.outputs) scope.types[o.name] = o.type;
    if (op.type == "const") {
      ++rep.const_count;
      if (auto it = op.attributes.find("val"); it != op.attributes.end()) {
        scope.consts[op.outputs.at(0).name] = &it->second;
        rep.weight_bytes += value_bytes(it->second);
        if (auto d = p.dtypes.find("int4"); d != p.dtypes.end() &&
            std::count(d->second.dtypes.begin(), d->second.dtypes.end(), it->second.type.dtype))
          rep.ops.push_back({op.name(), "const", OpStatus::kRejected, "dtypes.int4", d->second.source,
                             "INT4/UINT4 constants are rejected"});
      }
      continue;
    }
    for (const auto& [n, arg] : op.inputs)
      for (const auto& b : arg.bindings)
        if (!b.is_ref()) rep.weight_bytes += value_bytes(*b.value);
    for (const auto& [n, val] : op.attributes)
      if (n != "name") rep.weight_bytes += value_bytes(val);
    rep.ops.push_back(checker.check(op));
    if (op.type == "constexpr_blockwise_shift_scale") {
      const mil::Argument* a = op.input("data");
      const Type* t = nullptr;
      if (a && a->bindings.size() == 1)
        t = a->bindings[0].is_ref() ? (scope.types.count(a->bindings[0].name) ? &scope.types[a->bindings[0].name] : nullptr)
                                    : &a->bindings[0].value->type;
      if (!t)
        if (auto it = op.attributes.find("data"); it != op.attributes.end()) t = &it->second.type;
      if (t && (t->dtype == DType::kInt4 || t->dtype == DType::kUint4))
        finding(false, "program_rules.int4_per_block_cpu", prule("int4_per_block_cpu"),
                "`" + op.name() + "`: linear INT4 per-block weights run on the CPU (Core ML places every such conv on "
                "the CPU on small shards); use INT8 per-channel or INT4 LUT palettization for the ANE");
    }
    for (const auto& w : p.warnings)
      if (w.op == op.type && w.rule == "width_slice_gain" && !slice_warned.count(op.name())) {
        slice_warned.insert(op.name());
        finding(false, "warnings." + w.rule, w.source, "`" + op.name() + "`: " + w.note);
      }
  }
  // Program-level rules.
  std::map<std::string, Type> outs;
  for (const auto& o : f->body.outputs)
    if (scope.types.count(o)) outs[o] = scope.types[o];
  auto io_check = [&](const std::string& what, const std::string& name, const Type& t, const char* dkey) {
    if (auto it = p.dtypes.find(dkey); it != p.dtypes.end() && t.is_tensor() &&
        !std::count(it->second.dtypes.begin(), it->second.dtypes.end(), t.dtype))
      finding(true, std::string("dtypes.") + dkey, it->second.source,
              what + " `" + name + "` is " + std::string(mil::dtype_name(t.dtype)) + ": not an ANE I/O dtype");
    if (!t.is_tensor() || !t.fully_known()) {
      finding(true, "program_rules.static_shapes", prule("static_shapes"), what + " `" + name + "` needs a static shape");
      return;
    }
    if (t.rank() != 4 || t.dims[0] != 1 || t.dims[2] != 1) {
      finding(true, "program_rules.io_layout", prule("io_layout"),
              what + " `" + name + "` is " + mil::type_to_string(t) + ": ANE I/O is [1,C,1,S] (run ane-layout)");
      return;
    }
    if (auto it = p.limits.find("io_wide_short"); it != p.limits.end()) {
      const int64_t maxc = it->second.extra.count("max_channels") ? it->second.extra.at("max_channels") : 768;
      const int64_t mins = it->second.extra.count("min_seq") ? it->second.extra.at("min_seq") : 32;
      if (t.dims[1] > maxc && t.dims[3] < mins)
        finding(true, "limits.io_wide_short", it->second.source,
                what + " `" + name + "` [1," + std::to_string(t.dims[1]) + ",1," + std::to_string(t.dims[3]) +
                    "]: C > " + std::to_string(maxc) + " with S < " + std::to_string(mins) + " is rejected (pad S to " +
                    std::to_string(mins) + ")");
    }
  };
  for (const auto& in : f->inputs) io_check("input", in.name, in.type, "function_inputs");
  for (const auto& [n, t] : outs) io_check("output", n, t, "function_outputs");
  bool any_standalone_ok = false;
  for (const auto& o : rep.ops)
    if (o.status != OpStatus::kIntermediate && o.type != "const") any_standalone_ok = true;
  if (!rep.ops.empty() && !any_standalone_ok)
    finding(true, "program_rules.standalone_intermediate", prule("standalone_intermediate"),
            "the program holds only ops that run as intermediates (reshape / slice_by_index / tile); it cannot compile standalone");
  auto wall = [&](const char* key, bool error, const std::string& what) {
    auto it = p.limits.find(key);
    if (it == p.limits.end() || rep.weight_bytes <= static_cast<uint64_t>(it->second.value)) return;
    finding(error, std::string("limits.") + key, it->second.source,
            "weights " + human_bytes(rep.weight_bytes) + " > " + human_bytes(it->second.value) + ": " + what);
  };
  wall("weight_file_bytes", true, "over the per-program weight-file maximum; the compiler rejects it");
  if (rep.weight_bytes <= static_cast<uint64_t>(p.limit("weight_file_bytes", INT64_MAX)))
    wall("error14_bytes", true, "compiled models of this size fail with error -14; split into shards");
  if (rep.weight_bytes <= static_cast<uint64_t>(p.limit("error14_bytes", INT64_MAX)))
    wall("residency_bytes", false, "over the practical ANE residency size; such shards are silently placed on the GPU");
  return rep;
}

std::string report_to_text(const PolicyReport& r, const AneProfile& p) {
  std::string s = "ANE validation, profile " + r.profile + " (" + r.chip + ")\n"
                  "EMULATED policy from published findings — not a hardware result.\n\n";
  size_t w = 4, wt = 4;
  for (const auto& o : r.ops) w = std::max(w, o.name.size()), wt = std::max(wt, o.type.size());
  char line[1024];
  std::snprintf(line, sizeof line, "%-*s  %-*s  %-12s  %-8s  %s\n", int(w), "op", int(wt), "type", "verdict", "unit", "rule [source]: reason");
  s += line;
  for (const auto& o : r.ops) {
    std::snprintf(line, sizeof line, "%-*s  %-*s  %-12s  %-8s  ", int(w), o.name.c_str(), int(wt), o.type.c_str(),
                  op_status_name(o.status), o.on_ane() ? "ANE" : "CPU");
    s += line + o.rule + " [" + o.source + "]: " + o.message + "\n";
  }
  const int n = static_cast<int>(r.ops.size());
  const int compile_only = static_cast<int>(std::count_if(r.ops.begin(), r.ops.end(), [](const OpVerdict& o) {
    return o.status == OpStatus::kCompile || o.status == OpStatus::kIntermediate;
  }));
  std::snprintf(line, sizeof line,
                "\nsummary: %d ops (%lld consts not counted): %d on the ANE (%d eval-verified, %d compile-only or "
                "intermediate), %d fall back to the CPU (%.1f%% on the ANE)\n",
                n, static_cast<long long>(r.const_count), r.ane_ops(), r.eval_ops(), compile_only, r.fallback_ops(),
                n ? 100.0 * r.ane_ops() / n : 100.0);
  s += line;
  s += "weights: " + human_bytes(r.weight_bytes) + " (walls: residency ~" + human_bytes(p.limit("residency_bytes")) +
       ", error -14 at ~" + human_bytes(p.limit("error14_bytes")) + ", weight file " +
       human_bytes(p.limit("weight_file_bytes")) + ")\n";
  for (const auto& f : r.findings)
    s += std::string(f.error ? "error: " : "warning: ") + f.rule + " [" + f.source + "]: " + f.message + "\n";
  s += std::string("verdict: ") + (r.compiles() ? "compiles for the ANE (emulated policy)" : "does not compile as one ANE program") + "\n";
  std::set<std::string> used;
  for (const auto& o : r.ops) used.insert(o.source);
  for (const auto& f : r.findings) used.insert(f.source);
  s += "\nsources:\n";
  for (const auto& k : used)
    if (!k.empty()) s += "  " + p.cite(k) + "\n";
  return s;
}

std::string report_to_json(const PolicyReport& r, const AneProfile& p) {
  nlohmann::json j;
  j["schema"] = "ironmill.ane-validate/1";
  j["emulated"] = true;
  j["note"] = "policy emulated from published hardware findings; no ANE ran";
  j["profile"] = r.profile;
  j["chip"] = r.chip;
  j["function"] = r.function;
  nlohmann::json ops = nlohmann::json::array();
  std::set<std::string> used;
  for (const auto& o : r.ops) {
    ops.push_back({{"name", o.name}, {"type", o.type}, {"status", op_status_name(o.status)},
                   {"unit", o.on_ane() ? "ane" : "cpu"}, {"rule", o.rule}, {"source", o.source}, {"reason", o.message}});
    used.insert(o.source);
  }
  j["ops"] = ops;
  nlohmann::json fs = nlohmann::json::array();
  for (const auto& f : r.findings) {
    fs.push_back({{"severity", f.error ? "error" : "warning"}, {"rule", f.rule}, {"source", f.source}, {"message", f.message}});
    used.insert(f.source);
  }
  j["findings"] = fs;
  const int n = static_cast<int>(r.ops.size());
  j["summary"] = {{"ops", n}, {"consts", r.const_count}, {"ane_ops", r.ane_ops()}, {"eval_verified_ops", r.eval_ops()},
                  {"fallback_ops", r.fallback_ops()}, {"ane_pct", n ? 100.0 * r.ane_ops() / n : 100.0},
                  {"compiles", r.compiles()}};
  j["weights"] = {{"bytes", r.weight_bytes}, {"residency_bytes", p.limit("residency_bytes")},
                  {"error14_bytes", p.limit("error14_bytes")}, {"weight_file_bytes", p.limit("weight_file_bytes")}};
  nlohmann::json src = nlohmann::json::object();
  for (const auto& k : used)
    if (!k.empty() && p.sources.count(k)) src[k] = p.sources.at(k);
  j["sources"] = src;
  return j.dump(2);
}

}  // namespace ironmill::backends::ane
