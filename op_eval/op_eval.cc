#include "op_eval/op_eval.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "mil/builder.h"
#include "mil/op_registry.h"
#include "mil/text.h"
#include "mil/verifier.h"

namespace ironmill::op_eval {
namespace fs = std::filesystem;
using json = nlohmann::json;
using mil::DType;
using mil::Tensor;

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kPass: return "pass";
    case Verdict::kFail: return "fail";
    case Verdict::kUnsupported: return "unsupported";
    case Verdict::kError: return "error";
  }
  return "?";
}

Tolerance default_tolerance(DType d) {
  switch (d) {
    case DType::kFp32: case DType::kFp64: return {1e-5, 1e-4};
    case DType::kFp16: return {2.5e-3, 1e-3};
    case DType::kBf16: return {1e-2, 8e-3};
    default: return {0.0, 0.0};
  }
}

namespace {

Result<double> json_number(const json& v, const std::string& where) {
  if (v.is_number()) return v.get<double>();
  if (v.is_boolean()) return v.get<bool>() ? 1.0 : 0.0;
  if (v.is_string()) {
    auto s = v.get<std::string>();
    if (s == "nan") return NAN;
    if (s == "inf") return INFINITY;
    if (s == "-inf") return -INFINITY;
  }
  return invalid_argument(where + ": number expected, got " + v.dump());
}

Result<Tensor> parse_tensor(const json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("dtype") || !j.contains("shape") || !j.contains("data"))
    return invalid_argument(where + ": tensor needs dtype, shape and data");
  auto dt = mil::dtype_from_name(j["dtype"].get<std::string>());
  if (!dt) return invalid_argument(where + ": unknown dtype " + j["dtype"].dump());
  mil::Shape shape = j["shape"].get<mil::Shape>();
  const json& data = j["data"];
  if (static_cast<int64_t>(data.size()) != mil::shape_numel(shape))
    return invalid_argument(where + ": " + std::to_string(data.size()) + " values for shape " + mil::shape_to_string(shape));
  if (*dt == DType::kString) return Tensor::from_strings(shape, data.get<std::vector<std::string>>());
  if (mil::is_int(*dt) || *dt == DType::kBool) {
    std::vector<int64_t> v;
    for (const auto& x : data) {
      if (x.is_boolean()) v.push_back(x.get<bool>());
      else if (x.is_number_integer()) v.push_back(x.get<int64_t>());
      else return invalid_argument(where + ": integer expected, got " + x.dump());
    }
    return Tensor::from_i64(*dt, shape, v);
  }
  std::vector<double> v;
  for (const auto& x : data) {
    IM_ASSIGN_OR_RETURN(double d, json_number(x, where));
    v.push_back(d);
  }
  return Tensor::from_f64(*dt, shape, v);
}

// A constant list input: {"list": [TENSOR, ...]} (elements share one type; an empty list needs
// "elem_dtype" and optionally "elem_shape").
Result<mil::Value> parse_list_value(const json& j, const std::string& where) {
  mil::Value v;
  mil::Value::List items;
  std::optional<mil::Type> elem;
  for (const auto& e : j["list"]) {
    IM_ASSIGN_OR_RETURN(Tensor t, parse_tensor(e, where));
    mil::Type et = mil::Type::tensor(t.dtype(), t.shape());
    if (elem && !(*elem == et)) return invalid_argument(where + ": list elements differ in type");
    elem = et;
    items.elems.push_back(mil::Value::of(t));
  }
  if (!elem) {
    auto dt = mil::dtype_from_name(j.value("elem_dtype", std::string("fp32")));
    if (!dt) return invalid_argument(where + ": unknown elem_dtype");
    elem = mil::Type::tensor(*dt, j.value("elem_shape", mil::Shape{}));
  }
  v.type = mil::Type::list(*elem, static_cast<int64_t>(items.elems.size()));
  v.data = std::move(items);
  return v;
}

// An expected output that is not a tensor: {"list": [TENSOR, ...]} or {"dict": [[KEY, VALUE], ...]}.
Result<backends::RtValue> parse_expected_value(const json& j, const std::string& where) {
  if (j.contains("list")) {
    backends::ListValue l;
    for (const auto& e : j["list"]) {
      IM_ASSIGN_OR_RETURN(Tensor t, parse_tensor(e, where));
      l.items.push_back(std::move(t));
    }
    if (!l.items.empty()) l.elem_type = mil::Type::tensor(l.items[0].dtype(), l.items[0].shape());
    return backends::RtValue(std::move(l));
  }
  backends::DictValue d;
  for (const auto& kv : j["dict"]) {
    if (!kv.is_array() || kv.size() != 2) return invalid_argument(where + ": dict items are [key, value] pairs");
    IM_ASSIGN_OR_RETURN(Tensor k, parse_tensor(kv[0], where));
    IM_ASSIGN_OR_RETURN(Tensor v, parse_tensor(kv[1], where));
    d.items.emplace_back(std::move(k), std::move(v));
  }
  return backends::RtValue(std::move(d));
}

Status build_single_op(Case& c, const json& j, const std::string& path);

// Values for the inputs of a program given as MIL text: tensors, or state inputs wrapped in a StateValue.
Status bind_program_inputs(Case& c, const json& j, const std::string& path) {
  const mil::Function* f = c.program.function("main");
  if (!f) return invalid_argument(path + ": program has no function `main`");
  const json inputs = j.contains("inputs") ? j["inputs"] : json::object();
  for (const auto& in : f->inputs) {
    const std::string where = path + ": input `" + in.name + "`";
    if (!inputs.contains(in.name)) return invalid_argument(where + ": no value given");
    IM_ASSIGN_OR_RETURN(Tensor t, parse_tensor(inputs[in.name], where));
    if (in.type.kind == mil::Type::Kind::kState) c.inputs[in.name] = backends::StateValue{std::make_shared<Tensor>(t)};
    else c.inputs[in.name] = t;
  }
  for (const auto& [name, spec] : inputs.items()) {
    bool found = false;
    for (const auto& in : f->inputs) found = found || in.name == name;
    if (!found) return invalid_argument(path + ": input `" + name + "` is not a parameter of `main`");
  }
  c.output_names = f->body.outputs;
  return Status::Ok();
}

}  // namespace

Result<Case> load_case(const std::string& path) {
  std::ifstream in(path);
  if (!in) return io_error("cannot open " + path);
  json j;
  try {
    j = json::parse(in);
  } catch (const std::exception& e) {
    return parse_error(path + ": " + e.what());
  }
  Case c;
  c.path = path;
  c.op = j.value("op", "");
  c.name = j.value("case", "");
  c.family = j.value("family", "");
  c.opset = j.value("opset", "ios18");
  c.oracle = j.value("oracle", "");
  c.compare = j.value("compare", "");
  if (j.contains("atol")) c.atol = j["atol"].get<double>();
  if (j.contains("rtol")) c.rtol = j["rtol"].get<double>();
  if (j.contains("program")) {
    // The whole program as MIL text (nested blocks, lists, states); expected = the outputs of `main`.
    IM_ASSIGN_OR_RETURN(c.program, mil::parse_mil_text(j["program"].get<std::string>(), path));
    IM_RETURN_IF_ERROR(mil::verify(c.program).with_context(path));
    IM_RETURN_IF_ERROR(bind_program_inputs(c, j, path));
  } else {
    IM_RETURN_IF_ERROR(build_single_op(c, j, path));
  }
  if (j.contains("expected_states")) {
    for (const auto& [name, spec] : j["expected_states"].items()) {
      auto it = c.inputs.find(name);
      if (it == c.inputs.end() || !std::holds_alternative<backends::StateValue>(it->second))
        return invalid_argument(path + ": expected_states names `" + name + "`, which is not a state input");
      IM_ASSIGN_OR_RETURN(Tensor t, parse_tensor(spec, path + ": expected_states"));
      c.expected_states[name] = std::move(t);
    }
  }
  size_t k = 0;
  for (const auto& e : j["expected"]) {
    if (e.is_object() && (e.contains("list") || e.contains("dict"))) {
      IM_ASSIGN_OR_RETURN(backends::RtValue v, parse_expected_value(e, path + ": expected"));
      c.expected_values[k++] = std::move(v);
      c.expected.push_back(Tensor());
      continue;
    }
    IM_ASSIGN_OR_RETURN(Tensor t, parse_tensor(e, path + ": expected"));
    c.expected.push_back(std::move(t));
    ++k;
  }
  if (c.expected.size() != c.output_names.size())
    return invalid_argument(path + ": " + std::to_string(c.expected.size()) + " expected outputs, " +
                            (j.contains("program") ? "the program has " : "op has ") +
                            std::to_string(c.output_names.size()));
  return c;
}

namespace {
// The classic case: one op built through mil::Builder from the JSON inputs / attributes.
Status build_single_op(Case& c, const json& j, const std::string& path) {
  mil::Builder b(c.program, "main", c.opset);
  std::map<std::string, mil::Builder::Arg> args;
  for (const auto& [name, spec] : j["inputs"].items()) {
    const std::string where = path + ": input `" + name + "`";
    if (spec.contains("list")) {
      IM_ASSIGN_OR_RETURN(mil::Value v, parse_list_value(spec, where));
      args[name] = b.constant(v, name);
      continue;
    }
    if (spec.contains("tuple")) {
      std::vector<std::string> names;
      int k = 0;
      for (const auto& e : spec["tuple"]) {
        IM_ASSIGN_OR_RETURN(Tensor t, parse_tensor(e, where));
        const std::string n = name + "_" + std::to_string(k++);
        if (e.value("const", false)) names.push_back(b.constant(t, n));
        else {
          names.push_back(b.input(n, mil::Type::tensor(t.dtype(), t.shape())));
          c.inputs[n] = t;
        }
      }
      args[name] = names;
      continue;
    }
    IM_ASSIGN_OR_RETURN(Tensor t, parse_tensor(spec, where));
    if (spec.value("state", false)) {
      // A state input: state<tensor<...>> holding the given initial contents.
      args[name] = b.input(name, mil::Type::state(mil::Type::tensor(t.dtype(), t.shape())));
      c.inputs[name] = backends::StateValue{std::make_shared<Tensor>(t)};
    } else if (spec.value("const", false)) {
      args[name] = b.constant(t, name);
    } else {
      args[name] = b.input(name, mil::Type::tensor(t.dtype(), t.shape()));
      c.inputs[name] = t;
    }
  }
  std::map<std::string, mil::Value> attrs;
  if (j.contains("attributes")) {
    for (const auto& [name, spec] : j["attributes"].items()) {
      IM_ASSIGN_OR_RETURN(Tensor t, parse_tensor(spec, path + ": attribute `" + name + "`"));
      attrs[name] = mil::Value::of(t);
    }
  }
  std::vector<std::string> outs;
  if (c.op == "const") {
    // `const` has no inputs: the case is the constant itself, its value in attributes.val.
    auto it = attrs.find("val");
    if (it == attrs.end()) return invalid_argument(path + ": a const case needs attributes.val");
    outs.push_back(b.constant(it->second, "c"));
  } else {
    outs = b.ops(c.op, args, attrs);
  }
  if (!b.status().ok()) return b.status().with_context(path);
  for (const auto& o : outs) b.output(o);
  c.output_names = outs;
  return b.finish().with_context(path);
}
}  // namespace

std::vector<std::string> list_case_files(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); ++it)
    if (it->path().extension() == ".json") files.push_back(it->path().string());
  std::sort(files.begin(), files.end());
  return files;
}

std::string compare_tensor(const Tensor& a, const Tensor& e, const std::string& mode, Tolerance tol, double* max_abs,
                           double* nmse) {
  *max_abs = 0;
  *nmse = 0;
  if (a.shape() != e.shape())
    return "shape " + mil::shape_to_string(a.shape()) + ", expected " + mil::shape_to_string(e.shape());
  if (a.dtype() != e.dtype())
    return "dtype " + std::string(mil::dtype_name(a.dtype())) + ", expected " + std::string(mil::dtype_name(e.dtype()));
  if (e.dtype() == DType::kString) {
    for (int64_t i = 0; i < e.numel(); ++i)
      if (a.get_string(i) != e.get_string(i)) return "string [" + std::to_string(i) + "] differs";
    return "";
  }
  const bool exact = mode == "exact" || (mode.empty() && !mil::is_float(e.dtype()));
  double se = 0, sd = 0;
  std::string first_bad;
  for (int64_t i = 0; i < e.numel(); ++i) {
    const double av = a.get_f64(i), ev = e.get_f64(i);
    if (std::isnan(ev) || std::isnan(av)) {
      if (std::isnan(ev) != std::isnan(av) && first_bad.empty())
        first_bad = "[" + std::to_string(i) + "] = " + std::to_string(av) + ", expected " + std::to_string(ev);
      continue;
    }
    if (std::isinf(ev) || std::isinf(av)) {
      if (av != ev && first_bad.empty())
        first_bad = "[" + std::to_string(i) + "] = " + std::to_string(av) + ", expected " + std::to_string(ev);
      continue;
    }
    const double d = std::fabs(av - ev);
    *max_abs = std::max(*max_abs, d);
    sd += d * d;
    se += ev * ev;
    const bool ok = exact ? (av == ev) : (d <= tol.atol + tol.rtol * std::fabs(ev));
    if (!ok && first_bad.empty()) {
      std::ostringstream os;
      os.precision(9);
      os << "[" << i << "] = " << av << ", expected " << ev << " (|diff| " << d << ")";
      first_bad = os.str();
    }
  }
  *nmse = se > 0 ? sd / se : sd;
  return first_bad;
}

CaseResult run_case(const Case& c, backends::Backend& backend) {
  CaseResult r;
  r.op = c.op;
  r.name = c.name;
  r.family = c.family;
  r.backend = backend.name();
  const auto& body = c.program.functions.at(0).body;
  auto opset = mil::opset_version(c.program.functions[0].opset).value_or(18);
  for (const auto& op : body.operations) {
    auto v = backend.supports(op, opset);
    if (!v.supported) {
      r.verdict = Verdict::kUnsupported;
      r.message = "`" + op.type + "`: " + v.reason;
      return r;
    }
  }
  auto exe = backend.compile(c.program, {});
  if (!exe.ok()) {
    r.verdict = exe.status().code() == ErrorCode::kUnsupported ? Verdict::kUnsupported : Verdict::kError;
    r.message = exe.status().message();
    return r;
  }
  // Fresh state storage per run, so write_state never changes the case itself.
  backends::NamedValues inputs = c.inputs;
  for (auto& [name, v] : inputs)
    if (auto* st = std::get_if<backends::StateValue>(&v)) st->tensor = std::make_shared<Tensor>(*st->tensor);
  auto out = (*exe)->run(inputs);
  if (!out.ok()) {
    r.verdict = out.status().code() == ErrorCode::kUnsupported ? Verdict::kUnsupported : Verdict::kError;
    r.message = out.status().message();
    return r;
  }
  r.verdict = Verdict::kPass;
  auto judge = [&](const Tensor& actual, const Tensor& expected, const std::string& what) {
    Tolerance tol = default_tolerance(expected.dtype());
    if (c.atol) tol.atol = *c.atol;
    if (c.rtol) tol.rtol = *c.rtol;
    double mae = 0, nmse = 0;
    std::string why = compare_tensor(actual, expected, c.compare, tol, &mae, &nmse);
    r.max_abs_err = std::max(r.max_abs_err, mae);
    r.nmse = std::max(r.nmse, nmse);
    if (!why.empty() && r.verdict == Verdict::kPass) {
      r.verdict = Verdict::kFail;
      r.message = what + ": " + why;
    }
  };
  auto fail = [&](const std::string& why) {
    if (r.verdict == Verdict::kPass) {
      r.verdict = Verdict::kFail;
      r.message = why;
    }
  };
  for (const auto& [name, expected] : c.expected_states) {
    const auto* st = std::get_if<backends::StateValue>(&inputs.at(name));
    judge(*st->tensor, expected, "state `" + name + "` after the run");
  }
  for (size_t i = 0; i < c.expected.size(); ++i) {
    auto found = out->find(c.output_names[i]);
    if (found == out->end()) {
      fail("output " + std::to_string(i) + " (" + c.output_names[i] + ") was not returned");
      continue;
    }
    const auto& v = found->second;
    const std::string what = "output " + std::to_string(i) + " (" + c.output_names[i] + ")";
    auto ev = c.expected_values.find(i);
    if (ev != c.expected_values.end()) {
      if (const auto* el = std::get_if<backends::ListValue>(&ev->second)) {
        const auto* al = std::get_if<backends::ListValue>(&v);
        if (!al) { fail(what + " is not a list"); continue; }
        if (al->items.size() != el->items.size()) {
          fail(what + ": list of " + std::to_string(al->items.size()) + " items, expected " +
               std::to_string(el->items.size()));
          continue;
        }
        for (size_t k = 0; k < el->items.size(); ++k)
          judge(al->items[k], el->items[k], what + " item " + std::to_string(k));
      } else if (const auto* ed = std::get_if<backends::DictValue>(&ev->second)) {
        const auto* ad = std::get_if<backends::DictValue>(&v);
        if (!ad) { fail(what + " is not a dict"); continue; }
        if (ad->items.size() != ed->items.size()) {
          fail(what + ": dict of " + std::to_string(ad->items.size()) + " items, expected " +
               std::to_string(ed->items.size()));
          continue;
        }
        for (const auto& [ek, evv] : ed->items) {
          const Tensor* match = nullptr;
          for (const auto& [ak, avv] : ad->items) {
            double e1 = 0, e2 = 0;
            if (ak.dtype() == ek.dtype() && compare_tensor(ak, ek, "exact", {0, 0}, &e1, &e2).empty()) match = &avv;
          }
          if (!match) { fail(what + ": key " + ek.debug_string() + " missing"); continue; }
          judge(*match, evv, what + " [" + ek.debug_string() + "]");
        }
      }
      continue;
    }
    const auto* t = std::get_if<Tensor>(&v);
    if (!t) {
      r.verdict = Verdict::kFail;
      r.message = "output " + std::to_string(i) + " is not a tensor";
      return r;
    }
    Tolerance tol = default_tolerance(c.expected[i].dtype());
    if (c.atol) tol.atol = *c.atol;
    if (c.rtol) tol.rtol = *c.rtol;
    double mae = 0, nmse = 0;
    std::string why = compare_tensor(*t, c.expected[i], c.compare, tol, &mae, &nmse);
    r.max_abs_err = std::max(r.max_abs_err, mae);
    r.nmse = std::max(r.nmse, nmse);
    if (!why.empty() && r.verdict == Verdict::kPass) {
      r.verdict = Verdict::kFail;
      r.message = "output " + std::to_string(i) + " (" + c.output_names[i] + "): " + why;
    }
  }
  return r;
}

}  // namespace ironmill::op_eval
