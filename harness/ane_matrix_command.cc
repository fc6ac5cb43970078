// mill-harness ane-matrix: one row per op of the published ANE op matrix (ironmill's ane_op_eval on an
// M3 Pro), with our EMULATED verdict next to it. Each op gets a probe program in the style of
// ane_op_eval — [1,32,1,32] fp16 tensors, deterministic ramps, program(1.3) / func main<ios18>, I/O
// named a_input*/z_output* — compiled by the emulated device under a chip profile and evaluated with
// ANE numerics; the reference interpreter (fp32) is the oracle. Every op-eval case also goes through
// the `ane` backend (lower -> validate -> emulated eval). Disagreements are listed with a reason.
#include "harness/ane_matrix_command.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "backends/ane/ane_backend.h"
#include "backends/ane/emulated_device.h"
#include "backends/ane/policy.h"
#include "harness/report.h"
#include "mil/builder.h"
#include "mil/op_registry.h"
#include "mil/text.h"
#include "mil/verifier.h"
#include "op_eval/op_eval.h"

namespace ironmill::harness {
namespace {

using json = nlohmann::json;
using mil::DType;
using mil::Shape;
using mil::Tensor;
using mil::Type;
namespace ane = backends::ane;

const char* kUsage =
    "usage: mill-harness ane-matrix [--profile NAME] [--md FILE] [--json FILE] [--html FILE] [--cases DIR]\n"
    "                               [--no-op-eval] [--quiet]\n"
    "  Writes reports/ane-op-matrix.{md,json,html}: the published ANE op matrix (hardware, M3 Pro) next to\n"
    "  the EMULATED verdict of the chip profile (default m3_pro), and every op-eval case through the `ane`\n"
    "  backend. Exit 1 when an emulated verdict disagrees with the published one without an explanation.\n";

const Shape kS4{1, 32, 1, 32};
constexpr double kNmseBudget = 1e-4;  // op-eval cases through the emulated ANE: fp16-class error

std::string fmt(double v) {
  if (v == 0) return "0";
  char b[32];
  std::snprintf(b, sizeof b, v >= 0.01 && v < 1000 ? "%.3g" : "%.2e", v);
  return b;
}

// ane_op_eval-style deterministic ramps over the 1024 elements.
Tensor ramp(const std::string& kind) {
  std::vector<double> v(1024);
  for (int i = 0; i < 1024; ++i) {
    if (kind == "pos") v[i] = (i + 1) * 0.1;
    else if (kind == "pos_small") v[i] = (i + 1) * 0.01;
    else if (kind == "inv") v[i] = 0.5 + i * 0.01;
    else if (kind == "y") v[i] = (i % 32 - 16) * 0.3 + 0.15;
    else if (kind == "exp") v[i] = (i % 32 - 16) * 0.3;
    else if (kind == "unit") v[i] = (i - 512) / 600.0;
    else if (kind == "wide") v[i] = (i - 512) * 0.3;
    else if (kind == "near1") v[i] = 1 + (i % 32 - 16) * 0.001;
    else if (kind == "identity") v[i] = i / 32 == i % 32 ? 1.0 : 0.0;
    else v[i] = (i - 512) * 0.02;  // "sym"
  }
  return Tensor::from_f64(DType::kFp16, kS4, v);
}
std::string ramp_formula(const std::string& kind) {
  static const std::map<std::string, std::string> f = {
      {"pos", "(i+1)*0.1"}, {"pos_small", "(i+1)*0.01"}, {"inv", "0.5+i*0.01"}, {"y", "(i%32-16)*0.3+0.15"},
      {"exp", "(i%32-16)*0.3"}, {"unit", "(i-512)/600"}, {"wide", "(i-512)*0.3"}, {"near1", "1+(i%32-16)*0.001"}, {"identity", "identity matrix"},
      {"sym", "(i-512)*0.02"}};
  return f.count(kind) ? f.at(kind) : kind;
}

Tensor h(double v) { return Tensor::scalar_f64(DType::kFp16, v); }
Tensor i32(std::vector<int64_t> v) { return Tensor::from_i64(DType::kInt32, {static_cast<int64_t>(v.size())}, v); }
Tensor i32s(int64_t v) { return Tensor::scalar_i64(DType::kInt32, v); }
Tensor str(const std::string& s) { return Tensor::scalar_string(s); }

struct Probe {
  mil::Program program;
  backends::NamedValues inputs;
  std::string ramps;  // description
  std::string build_error;
};

// Builds a probe: inputs a_input0.. of [1,32,1,32] fp16 with the given ramps; `body` adds ops and
// returns the outputs.
template <class Body>
Probe probe(std::vector<std::string> ramps, Body body) {
  Probe p;
  mil::Builder b(p.program, "main", "ios18");
  std::vector<std::string> ins;
  for (size_t k = 0; k < ramps.size(); ++k) {
    const std::string n = "a_input" + std::to_string(k);
    ins.push_back(b.input(n, Type::tensor(DType::kFp16, kS4)));
    p.inputs[n] = ramp(ramps[k]);
    p.ramps += (k ? ", " : "") + ramp_formula(ramps[k]);
  }
  std::vector<std::string> outs = body(b, ins);
  for (const auto& o : outs) b.output(o);
  if (Status s = b.finish(); !s.ok()) p.build_error = s.message();
  return p;
}

using B = mil::Builder;
using Ins = std::vector<std::string>;

std::optional<Probe> make_probe(const std::string& op, bool intermediate_variant = false) {
  static const std::set<std::string> unary = {"abs", "sign", "sqrt", "square", "exp", "exp2", "erf", "ceil", "floor",
                                              "round", "atan", "relu", "relu6", "sigmoid", "tanh", "silu", "softsign",
                                              "softplus", "identity", "sin", "cos", "tan", "sinh", "cosh", "asin",
                                              "acos", "gelu"};
  static const std::set<std::string> binary = {"add", "sub", "mul", "real_div", "maximum", "minimum", "floor_div",
                                               "mod", "greater", "greater_equal", "less", "less_equal", "equal",
                                               "not_equal"};
  if (unary.count(op)) {
    std::string r = op == "sqrt" ? "pos" : (op == "exp" || op == "exp2") ? "exp" : (op == "asin" || op == "acos") ? "unit" : "sym";
    return probe({r}, [&](B& b, const Ins& x) { return Ins{b.op(op, {{"x", x[0]}})}; });
  }
  if (op == "rsqrt" || op == "log" || op == "inverse")
    return probe({op == "inverse" ? "inv" : "pos"}, [&](B& b, const Ins& x) {
      return Ins{b.op(op, {{"x", x[0]}, {"epsilon", h(8.0e-6)}})};  // ane_op_eval's eps = 0x1.0cp-17
    });
  if (binary.count(op)) return probe({"sym", "y"}, [&](B& b, const Ins& x) { return Ins{b.op(op, {{"x", x[0]}, {"y", x[1]}})}; });
  if (op == "pow") return probe({"pos_small"}, [&](B& b, const Ins& x) { return Ins{b.op("pow", {{"x", x[0]}, {"y", h(-0.5)}})}; });
  if (op == "clip")
    return probe({"sym"}, [&](B& b, const Ins& x) { return Ins{b.op("clip", {{"x", x[0]}, {"alpha", h(-1)}, {"beta", h(1)}})}; });
  if (op == "softmax")
    return probe({"sym"}, [&](B& b, const Ins& x) { return Ins{b.op("softmax", {{"x", x[0]}, {"axis", i32s(-1)}})}; });
  if (op.rfind("reduce_", 0) == 0) {
    const bool positive = op == "reduce_log_sum" || op == "reduce_prod";
    // Reductions keep dims and tile back to [1,32,1,32] (ane_op_eval avoids small outputs).
    return probe({op == "reduce_prod" ? "near1" : positive ? "pos" : "sym"}, [&](B& b, const Ins& x) {
      auto r = b.op(op, {{"x", x[0]}, {"axes", i32({-1})}, {"keep_dims", mil::Tensor::scalar_bool(true)}});
      return Ins{b.op("tile", {{"x", r}, {"reps", i32({1, 1, 1, 32})}})};
    });
  }
  if (op == "matmul")  // ane_op_eval: identity @ B = B on [1,32,32]
    return probe({"identity", "sym"}, [&](B& b, const Ins& x) {
      auto a = b.op("reshape", {{"x", x[0]}, {"shape", i32({1, 32, 32})}});
      auto c = b.op("reshape", {{"x", x[1]}, {"shape", i32({1, 32, 32})}});
      auto m = b.op("matmul", {{"x", a}, {"y", c}, {"transpose_x", mil::Tensor::scalar_bool(false)}, {"transpose_y", mil::Tensor::scalar_bool(false)}});
      return Ins{b.op("reshape", {{"x", m}, {"shape", i32({1, 32, 1, 32})}})};
    });
  if (op == "layer_norm")
    return probe({"sym"}, [&](B& b, const Ins& x) { return Ins{b.op("layer_norm", {{"x", x[0]}, {"axes", i32({3})}, {"epsilon", h(1e-5)}})}; });
  if (op == "batch_norm")
    return probe({"sym"}, [&](B& b, const Ins& x) {
      std::vector<double> m(32, 0.1), var(32, 2.0);
      return Ins{b.op("batch_norm", {{"x", x[0]}, {"mean", Tensor::from_f64(DType::kFp16, {32}, m)}, {"variance", Tensor::from_f64(DType::kFp16, {32}, var)}})};
    });
  // reshape / slice_by_index / tile: standalone, or (intermediate_variant) between two relus.
  auto wrap = [&](B& b, const std::string& x, auto inner) {
    if (!intermediate_variant) return inner(x);
    return b.op("relu", {{"x", inner(b.op("relu", {{"x", x}}))}});
  };
  if (op == "reshape")
    return probe({"sym"}, [&](B& b, const Ins& x) {
      return Ins{wrap(b, x[0], [&](const std::string& v) { return b.op("reshape", {{"x", v}, {"shape", i32({1, 64, 1, 16})}}); })};
    });
  if (op == "slice_by_index")
    return probe({"sym"}, [&](B& b, const Ins& x) {
      return Ins{wrap(b, x[0], [&](const std::string& v) {
        return b.op("slice_by_index", {{"x", v}, {"begin", i32({0, 0, 0, 0})}, {"end", i32({1, 32, 1, 16})}});
      })};
    });
  if (op == "tile")
    return probe({"sym"}, [&](B& b, const Ins& x) {
      return Ins{wrap(b, x[0], [&](const std::string& v) { return b.op("tile", {{"x", v}, {"reps", i32({1, 1, 1, 2})}}); })};
    });
  if (op == "concat")
    return probe({"sym", "y"}, [&](B& b, const Ins& x) {
      return Ins{b.op("concat", {{"values", std::vector<std::string>{x[0], x[1]}}, {"axis", i32s(3)}, {"interleave", mil::Tensor::scalar_bool(false)}})};
    });
  if (op == "transpose")
    return probe({"sym"}, [&](B& b, const Ins& x) { return Ins{b.op("transpose", {{"x", x[0]}, {"perm", i32({0, 3, 2, 1})}})}; });
  if (op == "slice_by_size")
    return probe({"sym"}, [&](B& b, const Ins& x) {
      return Ins{b.op("slice_by_size", {{"x", x[0]}, {"begin", i32({0, 0, 0, 8})}, {"size", i32({1, 32, 1, 16})}})};
    });
  if (op == "split")
    return probe({"sym"}, [&](B& b, const Ins& x) {
      return b.ops("split", {{"x", x[0]}, {"num_splits", i32s(2)}, {"axis", i32s(3)}});
    });
  if (op == "expand_dims")
    return probe({"sym"}, [&](B& b, const Ins& x) {
      auto e = b.op("expand_dims", {{"x", x[0]}, {"axes", i32({0})}});
      return Ins{b.op("squeeze", {{"x", e}, {"axes", i32({0})}})};
    });
  if (op == "squeeze")
    return probe({"sym"}, [&](B& b, const Ins& x) {
      auto s = b.op("squeeze", {{"x", x[0]}, {"axes", i32({2})}});
      return Ins{b.op("expand_dims", {{"x", s}, {"axes", i32({2})}})};
    });
  if (op == "reverse") return probe({"sym"}, [&](B& b, const Ins& x) { return Ins{b.op("reverse", {{"x", x[0]}, {"axes", i32({3})}})}; });
  if (op == "select")
    return probe({"sym", "y"}, [&](B& b, const Ins& x) {
      auto c = b.op("greater", {{"x", x[0]}, {"y", h(0)}});
      return Ins{b.op("select", {{"cond", c}, {"a", x[0]}, {"b", x[1]}})};
    });
  if (op == "logical_not")
    return probe({"sym"}, [&](B& b, const Ins& x) { return Ins{b.op("logical_not", {{"x", b.op("greater", {{"x", x[0]}, {"y", h(0)}})}})}; });
  if (op == "logical_and" || op == "logical_or" || op == "logical_xor")
    return probe({"sym", "y"}, [&](B& b, const Ins& x) {
      auto c1 = b.op("greater", {{"x", x[0]}, {"y", h(0)}});
      auto c2 = b.op("less", {{"x", x[1]}, {"y", h(0)}});
      return Ins{b.op(op, {{"x", c1}, {"y", c2}})};
    });
  if (op == "cast")  // the row's representative path: fp16 -> int8 -> fp16 (saturating)
    return probe({"wide"}, [&](B& b, const Ins& x) {
      auto c = b.op("cast", {{"x", x[0]}, {"dtype", str("int8")}});
      return Ins{b.op("cast", {{"x", c}, {"dtype", str("fp16")}})};
    });
  if (op == "quantize" || op == "dequantize")
    return probe({"sym"}, [&](B& b, const Ins& x) {
      auto q = b.op("quantize", {{"input", x[0]}, {"scale", h(0.1)}, {"zero_point", Tensor::scalar_i64(DType::kInt8, 0)}, {"output_dtype", str("int8")}});
      return Ins{b.op("dequantize", {{"input", q}, {"scale", h(0.1)}, {"zero_point", Tensor::scalar_i64(DType::kInt8, 0)}})};
    });
  if (op == "pad")
    return probe({"sym"}, [&](B& b, const Ins& x) {
      return Ins{b.op("pad", {{"x", x[0]}, {"pad", i32({0, 0, 0, 0, 0, 0, 2, 2})}, {"mode", str("constant")}, {"constant_val", h(0)}})};
    });
  if (op == "avg_pool" || op == "max_pool")
    return probe({"sym"}, [&](B& b, const Ins& x) {
      std::map<std::string, B::Arg> a = {{"x", x[0]}, {"kernel_sizes", i32({1, 2})}, {"strides", i32({1, 2})}, {"pad_type", str("valid")}};
      return Ins{b.op(op, a)};
    });
  if (op == "gather")
    return probe({"sym"}, [&](B& b, const Ins& x) {
      std::vector<int64_t> idx(32);
      for (int k = 0; k < 32; ++k) idx[k] = 31 - k;
      return Ins{b.op("gather", {{"x", x[0]}, {"indices", i32(idx)}, {"axis", i32s(3)}})};
    });
  if (op == "conv")
    return probe({"sym"}, [&](B& b, const Ins& x) {
      std::vector<double> w(32 * 32);
      for (int k = 0; k < 32 * 32; ++k) w[k] = ((k * 7) % 13 - 6) * 0.01;
      return Ins{b.op("conv", {{"x", x[0]}, {"weight", Tensor::from_f64(DType::kFp16, {32, 32, 1, 1}, w)}, {"pad_type", str("valid")}})};
    });
  if (op == "linear")
    return probe({"sym"}, [&](B& b, const Ins& x) {
      std::vector<double> w(32 * 32);
      for (int k = 0; k < 32 * 32; ++k) w[k] = ((k * 5) % 11 - 5) * 0.01;
      return Ins{b.op("linear", {{"x", x[0]}, {"weight", Tensor::from_f64(DType::kFp16, {32, 32}, w)}})};
    });
  return std::nullopt;
}

// Probe for one cast path (fp16 -> T [-> fp16], bool -> fp16, T -> fp16).
std::optional<Probe> make_cast_probe(DType from, DType to) {
  const bool to_ok_out = to == DType::kFp16 || to == DType::kFp32 || to == DType::kBool;
  return probe({"wide"}, [&](B& b, const Ins& x) {
    std::string v = x[0];
    if (from == DType::kBool) v = b.op("greater", {{"x", v}, {"y", h(0)}});
    else if (from != DType::kFp16) v = b.op("cast", {{"x", v}, {"dtype", str(std::string(mil::dtype_name(from)))}});
    v = b.op("cast", {{"x", v}, {"dtype", str(std::string(mil::dtype_name(to)))}});
    if (!to_ok_out) v = b.op("cast", {{"x", v}, {"dtype", str("fp16")}});
    return Ins{v};
  });
}

// The fp32 twin of an fp16 probe: the oracle runs it on the reference interpreter.
mil::Program to_fp32(mil::Program p) {
  std::function<void(mil::Type&)> ty = [&](mil::Type& t) {
    if (t.is_tensor() && t.dtype == DType::kFp16) t.dtype = DType::kFp32;
    for (auto& c : t.children) ty(c);
  };
  auto val = [](mil::Value& v) {
    if (v.is_tensor() && v.tensor().dtype() == DType::kFp16) v = mil::Value::of(v.tensor().cast_to(DType::kFp32));
  };
  for (auto& f : p.functions) {
    for (auto& in : f.inputs) ty(in.type);
    for (auto& op : f.body.operations) {
      for (auto& [k, v] : op.attributes)
        if (k != "name") val(v);
      for (auto& [k, a] : op.inputs)
        for (auto& bd : a.bindings)
          if (!bd.is_ref()) {
            if (op.type == "cast" && k == "dtype" && bd.value->tensor().get_string(0) == "fp16")
              bd.value = mil::Value::of(Tensor::scalar_string("fp32"));
            else
              val(*bd.value);
          }
      for (auto& o : op.outputs) ty(o.type);
    }
  }
  return p;
}

struct Eval {
  bool ran = false;
  std::string error;
  double max_err = 0, nmse = 0;
};

Eval compare_outputs(const backends::NamedValues& got, const backends::NamedValues& want) {
  Eval e;
  e.ran = true;
  double num = 0, den = 0;
  for (const auto& [name, w] : want) {
    auto it = got.find(name);
    if (it == got.end()) { e.error = "output " + name + " missing"; return e; }
    const auto& a = std::get<Tensor>(it->second);
    const auto& b = std::get<Tensor>(w);
    if (a.numel() != b.numel()) { e.error = "output " + name + " has " + std::to_string(a.numel()) + " elements"; return e; }
    for (int64_t i = 0; i < a.numel(); ++i) {
      const double d = a.get_f64(i) - b.get_f64(i);
      if (std::isnan(d)) continue;
      e.max_err = std::max(e.max_err, std::fabs(d));
      num += d * d;
      den += b.get_f64(i) * b.get_f64(i);
    }
  }
  e.nmse = num / std::max(den, 1e-30);
  return e;
}

Result<backends::NamedValues> reference_of(const Probe& p) {
  mil::Program r = to_fp32(p.program);
  IM_RETURN_IF_ERROR(mil::infer_and_verify(r));
  backends::NamedValues in;
  for (const auto& [k, v] : p.inputs) in[k] = std::get<Tensor>(v).cast_to(DType::kFp32);
  IM_ASSIGN_OR_RETURN(auto be, backends::make_backend("reference"));
  IM_ASSIGN_OR_RETURN(auto exe, be->compile(r, {}));
  return exe->run(in);
}

// Compiles the probe's MIL text on a fresh emulated device (one process per probe) and evaluates it.
struct DeviceRun {
  bool compiled = false;
  std::string reject_rule, reject_source, reject_message;
  ane::PolicyReport report;
  Eval eval;
};

DeviceRun run_on_device(const Probe& p, const ane::AneProfile& profile) {
  DeviceRun r;
  ane::EmulatedAneDevice dev(profile);
  const std::string text = mil::print_mil_text(p.program);
  auto h = dev.compile(text, {});
  r.report = dev.last_report();
  if (!h.ok()) {
    for (const auto& f : r.report.findings)
      if (f.error && r.reject_rule.empty()) r.reject_rule = f.rule, r.reject_source = f.source, r.reject_message = f.message;
    for (const auto& o : r.report.ops)
      if (!o.on_ane() && r.reject_rule.empty()) r.reject_rule = o.rule, r.reject_source = o.source, r.reject_message = "`" + o.type + "`: " + o.message;
    if (r.reject_rule.empty()) r.reject_message = h.status().message();
    return r;
  }
  r.compiled = true;
  auto ins = dev.inputs(*h);
  auto outs = dev.outputs(*h);
  std::vector<ane::AneTensor> ib, ob;
  for (const auto& d : *ins) {
    ib.push_back(ane::AneTensor::make(d.channels, d.seq, dev.min_buffer_bytes(), d.dtype));
    (void)ib.back().from_tensor(std::get<Tensor>(p.inputs.at(d.name)));
  }
  for (const auto& d : *outs) ob.push_back(ane::AneTensor::make(d.channels, d.seq, dev.min_buffer_bytes(), d.dtype));
  std::vector<const ane::AneTensor*> ip;
  std::vector<ane::AneTensor*> op;
  for (auto& b : ib) ip.push_back(&b);
  for (auto& b : ob) op.push_back(&b);
  if (Status s = dev.eval(*h, ip, op); !s.ok()) {
    r.eval.error = s.message();
    return r;
  }
  backends::NamedValues got;
  for (size_t i = 0; i < outs->size(); ++i) got[(*outs)[i].name] = ob[i].to_tensor();
  auto ref = reference_of(p);
  if (!ref.ok()) {
    r.eval.error = "reference: " + ref.status().message();
    return r;
  }
  // The reference keeps the probe's output names; shapes agree by construction.
  backends::NamedValues want;
  for (auto& [k, v] : *ref) want[k] = std::get<Tensor>(v).reshaped(std::get<Tensor>(got.at(k)).shape()).value();
  r.eval = compare_outputs(got, want);
  return r;
}

// The same probe after our ANE lowering (for ops the hardware rejects but the lowering rewrites).
Eval run_lowered(const Probe& p, const ane::AneProfile& profile) {
  Eval e;
  ane::AneBackend be(profile, {});
  auto exe = be.compile(p.program, {});
  if (!exe.ok()) { e.error = exe.status().message(); return e; }
  auto out = (*exe)->run(p.inputs);
  if (!out.ok()) { e.error = out.status().message(); return e; }
  auto ref = reference_of(p);
  if (!ref.ok()) { e.error = ref.status().message(); return e; }
  return compare_outputs(*out, *ref);
}

struct Row {
  std::string op, published, published_note, emulated, rule, source, message, ramps, lowered, explanation;
  std::optional<double> published_err, atol;
  Eval eval;
  bool mil_op = true, agrees = true, in_published = true;
  // op-eval cases through the ane backend
  int oe_eval = 0, oe_compile = 0, oe_rejected = 0, oe_error = 0, oe_budget_ok = 0;
  double oe_worst_nmse = 0;
  int ref_pass = 0, ref_total = 0;
};

std::string emulated_status(const DeviceRun& r, const std::string& op, const ane::AneProfile& profile) {
  if (!r.compiled) return "rejected";
  // The verdict of the op the row is about (the probe may hold helpers such as tile or reshape).
  for (const auto& o : r.report.ops)
    if (o.type == op) return ane::op_status_name(o.status);
  return "eval";
}

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else o += c;
  }
  return o;
}

}  // namespace

int ane_matrix_command(const std::vector<std::string>& args) {
  std::string profile_name = ane::kDefaultProfile, md_path = "reports/ane-op-matrix.md",
              json_path = "reports/ane-op-matrix.json", html_path = "reports/ane-op-matrix.html",
              cases_dir = std::string(IRONMILL_SOURCE_DIR) + "/op_eval/cases",
              published_path = std::string(IRONMILL_SOURCE_DIR) + "/src/backends/ane/published/ironmill_m3_pro.json";
  bool with_op_eval = true, quiet = false;
  for (size_t i = 0; i < args.size(); ++i) {
    auto need = [&]() -> std::string {
      if (i + 1 >= args.size()) { std::cerr << "mill-harness ane-matrix: " << args[i] << " needs a value\n" << kUsage; std::exit(2); }
      return args[++i];
    };
    if (args[i] == "--profile") profile_name = need();
    else if (args[i] == "--md") md_path = need();
    else if (args[i] == "--json") json_path = need();
    else if (args[i] == "--html") html_path = need();
    else if (args[i] == "--cases") cases_dir = need();
    else if (args[i] == "--no-op-eval") with_op_eval = false;
    else if (args[i] == "--quiet") quiet = true;
    else if (args[i] == "-h" || args[i] == "--help") { std::cout << kUsage; return 0; }
    else { std::cerr << "mill-harness ane-matrix: unknown argument " << args[i] << "\n" << kUsage; return 2; }
  }
  auto prof = ane::load_profile(profile_name);
  if (!prof.ok()) { std::cerr << "mill-harness ane-matrix: " << prof.status().message() << "\n"; return 2; }
  std::ifstream pin(published_path);
  json pub = json::parse(pin, nullptr, false);
  if (pub.is_discarded() || !pub.contains("rows")) { std::cerr << "mill-harness ane-matrix: cannot read " << published_path << "\n"; return 2; }

  std::vector<Row> rows;
  std::set<std::string> published_ops;
  auto fill_from_run = [&](Row& row, const std::optional<Probe>& p) {
    if (!p) {
      const auto v = ane::evaluate_op_kind(row.op, *prof);
      row.emulated = ane::op_status_name(v.status);
      row.rule = v.rule, row.source = v.source, row.message = "op rule only (no probe program): " + v.message;
      return;
    }
    if (!p->build_error.empty()) { row.emulated = "error"; row.message = "probe: " + p->build_error; return; }
    row.ramps = p->ramps;
    DeviceRun r = run_on_device(*p, *prof);
    row.emulated = emulated_status(r, row.op, *prof);
    if (!r.compiled) {
      row.rule = r.reject_rule, row.source = r.reject_source, row.message = r.reject_message;
    } else {
      for (const auto& o : r.report.ops)
        if (o.type == row.op) { row.rule = o.rule; row.source = o.source; break; }
      row.eval = r.eval;
      if (!r.eval.error.empty()) { row.emulated = "error"; row.message = r.eval.error; }
    }
  };
  for (const auto& pr : pub["rows"]) {
    Row row;
    row.op = pr["op"];
    published_ops.insert(row.op);
    row.published = pr["status"];
    row.published_note = pr.value("note", std::string());
    if (pr.contains("max_err")) row.published_err = pr["max_err"].get<double>();
    if (pr.contains("atol")) row.atol = pr["atol"].get<double>();
    row.mil_op = pr.value("mil_op", true);
    if (!row.mil_op) {
      row.emulated = "n/a";
      row.agrees = true;
      row.explanation = "not a MIL op: coremltools and our frontends spell it " +
                        std::string(row.op == "neg" ? "mul(x, -1)" : "select") + ", which the ANE accepts";
      rows.push_back(row);
      continue;
    }
    if (row.published == "intermediate") {
      fill_from_run(row, make_probe(row.op, false));  // standalone: expect the standalone rule
      const bool standalone_rejected = row.emulated == "rejected" && row.rule == "program_rules.standalone_intermediate";
      Row inner = row;
      fill_from_run(inner, make_probe(row.op, true));
      if (standalone_rejected && inner.emulated == "intermediate" && inner.eval.error.empty()) {
        row.emulated = "intermediate";
        row.eval = inner.eval;
        row.message = "standalone: rejected (" + row.rule + "); between two relus: runs";
      } else {
        row.message += " | as an intermediate: " + inner.emulated + " " + inner.message;
      }
    } else {
      fill_from_run(row, make_probe(row.op));
    }
    if (row.emulated == "rejected" && ane::lowering_rewrites(row.op)) {
      if (auto p = make_probe(row.op); p && p->build_error.empty()) {
        Eval e = run_lowered(*p, *prof);
        row.lowered = e.error.empty() ? "eval, max_err " + fmt(e.max_err) : "fails: " + e.error.substr(0, 120);
      }
    }
    rows.push_back(row);
  }
  // Registered ops outside the published table (conv, linear, the rest): emulated verdict only.
  for (const auto* s : mil::OpRegistry::get().all()) {
    if (published_ops.count(s->name) || s->name == "const") continue;
    Row row;
    row.op = s->name;
    row.in_published = false;
    row.published = "—";
    fill_from_run(row, make_probe(row.op));
    rows.push_back(row);
  }

  // Cast paths and INT4.
  struct PathRow { std::string from, to, published, emulated, rule, source; Eval eval; bool agrees; };
  std::vector<PathRow> paths;
  for (const auto& c : pub["cast_paths"]) {
    PathRow pr{c["from"], c["to"], c["status"], "", "", "", {}, true};
    auto from = mil::dtype_from_name(pr.from), to = mil::dtype_from_name(pr.to);
    auto p = make_cast_probe(*from, *to);
    if (!p->build_error.empty()) { pr.emulated = "error: " + p->build_error; pr.agrees = false; paths.push_back(pr); continue; }
    DeviceRun r = run_on_device(*p, *prof);
    if (!r.compiled) { pr.emulated = "rejected"; pr.rule = r.reject_rule; pr.source = r.reject_source; }
    else {
      pr.emulated = "eval";
      for (const auto& o : r.report.ops)
        if (o.type == "cast" && o.status == ane::OpStatus::kCompile) { pr.emulated = "compile"; pr.rule = o.rule; pr.source = o.source; }
      if (pr.rule.empty()) pr.rule = "cast_paths";
      pr.eval = r.eval;
    }
    pr.agrees = pr.emulated == pr.published;
    paths.push_back(pr);
  }
  Row int4;
  {
    auto p = probe({"sym"}, [&](B& b, const Ins& x) {
      std::vector<int64_t> q(1024);
      for (int k = 0; k < 1024; ++k) q[k] = k % 16 - 8;
      auto d = b.op("constexpr_blockwise_shift_scale", {{"data", Tensor::from_i64(DType::kInt4, {32, 32}, q)},
                                                        {"scale", Tensor::from_f64(DType::kFp16, {32, 1}, std::vector<double>(32, 0.1))}});
      auto r = b.op("reshape", {{"x", d}, {"shape", i32({1, 32, 1, 32})}});
      return Ins{b.op("add", {{"x", x[0]}, {"y", r}})};
    });
    DeviceRun r = run_on_device(p, *prof);
    int4.op = "INT4 weights (constexpr_blockwise_shift_scale)";
    int4.published = pub["int4"]["status"];
    int4.emulated = r.compiled ? "eval" : "rejected";
    int4.rule = r.reject_rule, int4.source = r.reject_source, int4.message = p.build_error.empty() ? r.reject_message : p.build_error;
    int4.agrees = int4.emulated == int4.published;
  }

  // op-eval cases through the ane backend.
  std::map<std::string, Row*> by_op;
  for (auto& r : rows) by_op[r.op] = &r;
  json oe_records = json::array();
  int oe_total = 0, oe_eval = 0, oe_rejected = 0, oe_error = 0, oe_budget = 0;
  if (with_op_eval) {
    auto ref = backends::make_backend("reference");
    for (const auto& f : op_eval::list_case_files(cases_dir)) {
      auto c = op_eval::load_case(f);
      if (!c.ok()) continue;
      ane::AneBackend be(*prof, {});
      op_eval::CaseResult r = op_eval::run_case(*c, be);
      op_eval::CaseResult rr = op_eval::run_case(*c, **ref);
      Row* row = by_op.count(c->op) ? by_op[c->op] : nullptr;
      std::string status;
      if (r.verdict == op_eval::Verdict::kUnsupported) status = "rejected";
      else if (r.verdict == op_eval::Verdict::kError) status = "error";
      else {
        // Reshapes the layout pass adds at the I/O are intermediates: they do not make a case compile-only.
        bool all_eval = true;
        for (const auto& o : be.last_report().ops)
          all_eval = all_eval && (o.status == ane::OpStatus::kEval || o.status == ane::OpStatus::kIntermediate);
        status = all_eval ? "eval" : "compile-only";
      }
      const bool within = (status == "eval" || status == "compile-only") && r.nmse <= kNmseBudget;
      ++oe_total;
      if (status == "eval" || status == "compile-only") ++oe_eval;
      if (status == "rejected") ++oe_rejected;
      if (status == "error") ++oe_error;
      if (within) ++oe_budget;
      if (row) {
        if (status == "eval") ++row->oe_eval;
        else if (status == "compile-only") ++row->oe_compile;
        else if (status == "rejected") ++row->oe_rejected;
        else ++row->oe_error;
        if (within) ++row->oe_budget_ok;
        if (status == "eval" || status == "compile-only") row->oe_worst_nmse = std::max(row->oe_worst_nmse, r.nmse);
        ++row->ref_total;
        if (rr.verdict == op_eval::Verdict::kPass) ++row->ref_pass;
      }
      oe_records.push_back({{"op", c->op}, {"case", c->name}, {"status", status}, {"max_abs_err", r.max_abs_err},
                            {"nmse", r.nmse}, {"within_nmse_budget", within}, {"message", r.message},
                            {"reference", op_eval::verdict_name(rr.verdict)}});
    }
  }

  // Agreement with the published result.
  int agree = 0, disagree = 0, unexplained = 0;
  for (auto& r : rows) {
    if (!r.in_published || !r.mil_op) continue;
    const bool over_tol = r.atol && r.eval.ran && r.eval.error.empty() && r.eval.max_err > *r.atol;
    r.agrees = r.emulated == r.published && !over_tol;
    if (r.agrees) { ++agree; continue; }
    ++disagree;
    if (over_tol)
      r.explanation = "emulated max_err " + fmt(r.eval.max_err) + " exceeds ane_op_eval's tolerance " + fmt(*r.atol) +
                      " on our ramp (" + r.ramps + "); the hardware ramp is not published exactly";
    else if (r.emulated == "error")
      r.explanation = "emulator error: " + r.message;
    else {
      r.explanation = "the profile's rule " + r.rule + " [" + r.source + "] decides differently";
      ++unexplained;
    }
  }
  const std::string chip = prof->chip + (prof->name == "m3_pro" ? "" : " — the published table was measured on an M3 Pro");

  // Markdown.
  std::ostringstream md;
  md << "# ANE op matrix — published hardware result vs EMULATED verdict\n\n"
     << "Generated by `mill-harness ane-matrix --profile " << prof->name << "`. **Nothing here ran on an ANE**: the "
     << "\"emulated\" columns come from the chip profile `" << prof->name << "` (" << chip << ") applied by our compile "
     << "policy and from our emulated device (fp16 between ops, ±65504 saturation, [1,C,1,S] buffers ≥ "
     << prof->limit("min_buffer_bytes") << " B). The \"published\" columns are the hardware results of "
     << "jafreck/ironmill's `ane_op_eval` on an M3 Pro, macOS 25E246 (ironmill-notes.md §5.1).\n\n"
     << "Method (mirrors ane_op_eval, §5.3): one probe program per op, `program(1.3)` / `func main<ios18>`, "
     << "inputs `a_input*` of `[1,32,1,32]` fp16 holding deterministic ramps, compiled from MIL text by the emulated "
     << "device; the oracle is the reference interpreter on the fp32 twin of the probe. Verdicts: eval (compiles and "
     << "runs), compile (the profile knows only that it compiles), intermediate (runs only inside a larger program), "
     << "rejected (with the rule and its source). Published max_err was measured on the hardware's ramps, which are not "
     << "all published; compare orders of magnitude.\n\n";
  md << "**" << agree << " of " << (agree + disagree) << " published rows agree**; " << disagree
     << " disagreements, each explained below";
  if (with_op_eval)
    md << ". op-eval through the `ane` backend: " << oe_total << " cases, " << oe_eval << " evaluated (" << oe_budget
       << " within NMSE ≤ " << fmt(kNmseBudget) << "), " << oe_rejected << " rejected, " << oe_error << " errors";
  md << ".\n\n## Ops of the published table\n\n"
     << "| op | published (M3 Pro) | published max_err | emulated verdict | rule [source] | emulated max_err | ane_op_eval atol | after our lowering | op-eval via `ane` (eval/compile-only/rejected/error, worst NMSE) | reference op-eval |\n"
     << "|---|---|---|---|---|---|---|---|---|---|\n";
  auto oe_cell = [&](const Row& r) -> std::string {
    if (!with_op_eval) return "";
    const int n = r.oe_eval + r.oe_compile + r.oe_rejected + r.oe_error;
    if (!n) return "no cases";
    return std::to_string(r.oe_eval) + "/" + std::to_string(r.oe_compile) + "/" + std::to_string(r.oe_rejected) + "/" +
           std::to_string(r.oe_error) + (r.oe_eval + r.oe_compile ? " (" + fmt(r.oe_worst_nmse) + ")" : "");
  };
  auto ref_cell = [&](const Row& r) -> std::string {
    return r.ref_total ? std::to_string(r.ref_pass) + "/" + std::to_string(r.ref_total) : "";
  };
  for (const auto& r : rows) {
    if (!r.in_published) continue;
    md << "| " << r.op << " | " << r.published << " | " << (r.published_err ? fmt(*r.published_err) : "–") << " | "
       << (r.agrees ? "" : "**") << r.emulated << (r.agrees ? "" : "**") << " | "
       << (r.rule.empty() ? "" : r.rule + " [" + r.source + "]") << " | "
       << (r.eval.ran && r.eval.error.empty() ? fmt(r.eval.max_err) : "–") << " | " << (r.atol ? fmt(*r.atol) : "–")
       << " | " << r.lowered << " | " << oe_cell(r) << " | " << ref_cell(r) << " |\n";
  }
  md << "\n## Cast paths and INT4\n\n| path | published | emulated | rule [source] | emulated max_err |\n|---|---|---|---|---|\n";
  for (const auto& p : paths)
    md << "| cast " << p.from << " → " << p.to << " | " << p.published << " | " << (p.agrees ? "" : "**") << p.emulated
       << (p.agrees ? "" : "**") << " | " << p.rule << (p.source.empty() ? "" : " [" + p.source + "]") << " | "
       << (p.eval.ran && p.eval.error.empty() ? fmt(p.eval.max_err) : "–") << " |\n";
  md << "| " << int4.op << " | " << int4.published << " | " << int4.emulated << " | " << int4.rule << " [" << int4.source
     << "] | – |\n";
  md << "\n## Disagreements and rows needing a word\n\n";
  int listed = 0;
  for (const auto& r : rows)
    if (r.in_published && (!r.agrees || !r.explanation.empty())) {
      md << "- **" << r.op << "**: published " << r.published << ", emulated " << r.emulated << ". " << r.explanation << "\n";
      ++listed;
    }
  for (const auto& p : paths)
    if (!p.agrees) {
      md << "- **cast " << p.from << " → " << p.to << "**: published " << p.published << ", emulated " << p.emulated << "\n";
      ++listed;
      ++disagree;
      ++unexplained;
    }
  if (!listed) md << "None.\n";
  md << "\n## Registered ops not in the published table (emulated verdict only)\n\n"
     << "| op | emulated verdict | rule [source] | emulated max_err | op-eval via `ane` | reference op-eval |\n|---|---|---|---|---|---|\n";
  for (const auto& r : rows)
    if (!r.in_published)
      md << "| " << r.op << " | " << r.emulated << " | " << (r.rule.empty() ? "" : r.rule + " [" + r.source + "]") << " | "
         << (r.eval.ran && r.eval.error.empty() ? fmt(r.eval.max_err) : "–") << " | " << oe_cell(r) << " | " << ref_cell(r) << " |\n";
  md << "\n## Sources (profile " << prof->name << ")\n\n";
  for (const auto& [k, v] : prof->sources) md << "- `" << k << "`: " << v << "\n";

  // JSON.
  json j;
  j["schema"] = "ironmill.ane-op-matrix/1";
  j["emulated"] = true;
  j["note"] = "emulated verdicts from a chip profile and an emulated device; published columns are hardware results from jafreck/ironmill";
  j["profile"] = prof->name;
  j["chip"] = prof->chip;
  j["published_source"] = pub.value("source", std::string());
  j["rows"] = json::array();
  for (const auto& r : rows) {
    json e = {{"op", r.op}, {"in_published_table", r.in_published}, {"published_status", r.published},
              {"emulated_verdict", r.emulated}, {"rule", r.rule}, {"source", r.source}, {"message", r.message},
              {"agrees", r.agrees}, {"explanation", r.explanation}, {"ramps", r.ramps}, {"after_lowering", r.lowered}};
    e["published_max_err"] = r.published_err ? json(*r.published_err) : json(nullptr);
    e["atol"] = r.atol ? json(*r.atol) : json(nullptr);
    e["emulated_max_err"] = r.eval.ran && r.eval.error.empty() ? json(r.eval.max_err) : json(nullptr);
    e["emulated_nmse"] = r.eval.ran && r.eval.error.empty() ? json(r.eval.nmse) : json(nullptr);
    e["op_eval"] = {{"eval", r.oe_eval}, {"compile_only", r.oe_compile}, {"rejected", r.oe_rejected}, {"error", r.oe_error},
                    {"within_nmse_budget", r.oe_budget_ok}, {"worst_nmse", r.oe_worst_nmse},
                    {"reference_pass", r.ref_pass}, {"reference_total", r.ref_total}};
    j["rows"].push_back(e);
  }
  j["cast_paths"] = json::array();
  for (const auto& p : paths)
    j["cast_paths"].push_back({{"from", p.from}, {"to", p.to}, {"published_status", p.published}, {"emulated_verdict", p.emulated},
                               {"rule", p.rule}, {"source", p.source}, {"agrees", p.agrees}});
  j["int4"] = {{"published_status", int4.published}, {"emulated_verdict", int4.emulated}, {"rule", int4.rule}, {"source", int4.source}};
  j["op_eval"] = {{"nmse_budget", kNmseBudget}, {"cases", oe_total}, {"evaluated", oe_eval}, {"within_budget", oe_budget},
                  {"rejected", oe_rejected}, {"errors", oe_error}, {"records", oe_records}};
  j["summary"] = {{"published_rows", agree + disagree}, {"agree", agree}, {"disagree", disagree}, {"unexplained", unexplained}};

  // HTML.
  std::ostringstream html;
  html << "<!doctype html><html><head><meta charset=\"utf-8\"><title>ANE op matrix (emulated)</title><style>"
       << "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}"
       << ".eval{background:#d9f2d9}.compile{background:#fff2cc}.intermediate{background:#e0ecff}.rejected{background:#f8d7da}"
       << ".dis{outline:2px solid #c00}</style></head><body><h1>ANE op matrix — published hardware vs EMULATED</h1>"
       << "<p>Profile <b>" << html_escape(prof->name) << "</b> (" << html_escape(prof->chip) << "). Nothing here ran on an ANE. "
       << agree << " of " << (agree + disagree) << " published rows agree.</p><table><tr><th>op</th><th>published (M3 Pro)</th>"
       << "<th>published max_err</th><th>emulated</th><th>rule [source]</th><th>emulated max_err</th><th>explanation</th></tr>";
  for (const auto& r : rows) {
    if (!r.in_published) continue;
    html << "<tr><td>" << html_escape(r.op) << "</td><td class=\"" << r.published << "\">" << r.published << "</td><td>"
         << (r.published_err ? fmt(*r.published_err) : "–") << "</td><td class=\"" << r.emulated << (r.agrees ? "" : " dis")
         << "\">" << html_escape(r.emulated) << "</td><td>" << html_escape(r.rule + (r.source.empty() ? "" : " [" + r.source + "]"))
         << "</td><td>" << (r.eval.ran && r.eval.error.empty() ? fmt(r.eval.max_err) : "–") << "</td><td>"
         << html_escape(r.explanation) << "</td></tr>";
  }
  html << "</table></body></html>\n";

  if (auto s = write_file_atomic(json_path, j.dump(1) + "\n"); !s.ok()) { std::cerr << s.message() << "\n"; return 2; }
  if (auto s = write_file_atomic(md_path, md.str()); !s.ok()) { std::cerr << s.message() << "\n"; return 2; }
  if (auto s = write_file_atomic(html_path, html.str()); !s.ok()) { std::cerr << s.message() << "\n"; return 2; }
  if (!quiet) std::cout << md.str();
  std::cout << "ane-matrix (EMULATED, profile " << prof->name << "): " << agree << "/" << (agree + disagree)
            << " published rows agree, " << unexplained << " unexplained; ";
  if (with_op_eval) std::cout << "op-eval via ane: " << oe_eval << "/" << oe_total << " evaluated, " << oe_budget << " within NMSE budget; ";
  std::cout << "wrote " << md_path << ", " << json_path << ", " << html_path << "\n";
  return unexplained ? 1 : 0;
}

}  // namespace ironmill::harness
