// If and Scan by inlining their subgraphs (LowerContext::inline_graph).
// If: a constant condition inlines the taken branch; a run-time condition inlines both branches (ONNX
// subgraphs have no side effects) and selects per output, which needs both outputs to have one type.
// Scan: unrolled over the static scan length, the body inlined once per iteration.
#include <algorithm>

#include "frontends/onnx/lowering.h"
#include "frontends/onnx/onnx_importer.h"

namespace ironmill::frontends::onnx {
using mil::DType;

namespace {

Result<const ::onnx::GraphProto*> graph_attr(LowerContext& c, const std::string& name) {
  const auto* a = c.attr(name);
  if (!a || !a->has_g()) return invalid_argument("attribute '" + name + "' (a graph) is missing");
  return &a->g();
}

Status lower_if(LowerContext& c) {
  IM_ASSIGN_OR_RETURN(const auto* then_g, graph_attr(c, "then_branch"));
  IM_ASSIGN_OR_RETURN(const auto* else_g, graph_attr(c, "else_branch"));
  if (auto k = c.const_in(0)) {
    IM_ASSIGN_OR_RETURN(auto outs, c.inline_graph(k->get_i64(0) != 0 ? *then_g : *else_g, {}));
    for (size_t i = 0; i < outs.size(); ++i) c.set_out(static_cast<int>(i), c.op("identity", {{"x", outs[i]}}));
    return Status::Ok();
  }
  IM_ASSIGN_OR_RETURN(std::string cond, c.in(0));
  IM_ASSIGN_OR_RETURN(auto a, c.inline_graph(*then_g, {}));
  IM_ASSIGN_OR_RETURN(auto b, c.inline_graph(*else_g, {}));
  if (a.size() != b.size()) return invalid_argument("If branches return different numbers of outputs");
  for (size_t i = 0; i < a.size(); ++i) {
    const mil::Type* ta = c.type(a[i]);
    const mil::Type* tb = c.type(b[i]);
    if (!ta || !tb || !ta->fully_known() || !(*ta == *tb))
      return c.fail("If with a run-time condition and branch outputs of different types (a select needs one type)");
    c.set_out(static_cast<int>(i), c.op("select", {{"cond", cond}, {"a", a[i]}, {"b", b[i]}}));
  }
  return Status::Ok();
}

// One Scan over static inputs: returns the final states followed by the stacked scan outputs.
Result<std::vector<std::string>> unroll_scan(LowerContext& c, const ::onnx::GraphProto& body, std::vector<std::string> states,
                                             const std::vector<std::string>& scans, const std::vector<int64_t>& in_axes,
                                             const std::vector<int64_t>& in_dirs, const std::vector<int64_t>& out_axes,
                                             const std::vector<int64_t>& out_dirs) {
  int64_t T = -1;
  std::vector<mil::Shape> scan_dims;
  for (size_t j = 0; j < scans.size(); ++j) {
    IM_ASSIGN_OR_RETURN(auto d, static_shape_of(c, scans[j]));
    int axis = normalize_axis(in_axes[j], static_cast<int>(d.size()));
    if (axis < 0 || axis >= static_cast<int>(d.size())) return invalid_argument("scan_input_axes out of range");
    if (T >= 0 && d[axis] != T) return invalid_argument("scan inputs have different lengths");
    T = d[axis];
    scan_dims.push_back(d);
  }
  if (T <= 0) return c.fail("Scan over an empty or unknown length");
  if (T > 4096) return c.fail("Scan longer than 4096 steps is not unrolled");
  const size_t n_out = static_cast<size_t>(body.output_size()) - states.size();
  std::vector<std::vector<std::string>> per_step(n_out);
  for (int64_t t = 0; t < T; ++t) {
    std::vector<std::string> args = states;
    for (size_t j = 0; j < scans.size(); ++j) {
      const auto& d = scan_dims[j];
      int axis = normalize_axis(in_axes[j], static_cast<int>(d.size()));
      int64_t at = in_dirs[j] != 0 ? T - 1 - t : t;
      std::vector<int64_t> begin(d.size(), 0), size(d.begin(), d.end());
      begin[axis] = at;
      size[axis] = 1;
      auto s = c.op("slice_by_size", {{"x", scans[j]}, {"begin", ti32(begin)}, {"size", ti32(size)}});
      args.push_back(c.op("squeeze", {{"x", s}, {"axes", ti32({axis})}}));
    }
    IM_ASSIGN_OR_RETURN(auto outs, c.inline_graph(body, args));
    for (size_t i = 0; i < states.size(); ++i) states[i] = outs[i];
    for (size_t k = 0; k < n_out; ++k) per_step[k].push_back(outs[states.size() + k]);
  }
  std::vector<std::string> result = states;
  for (size_t k = 0; k < n_out; ++k) {
    auto& v = per_step[k];
    if (k < out_dirs.size() && out_dirs[k] != 0) std::reverse(v.begin(), v.end());
    const mil::Type* t = c.type(v[0]);
    int r = t ? t->rank() : -1;
    if (r < 0) return c.fail("scan output of unknown rank");
    int axis = normalize_axis(k < out_axes.size() ? out_axes[k] : 0, r + 1);
    result.push_back(c.op("stack", {{"values", v}, {"axis", si32(axis)}}));
  }
  return result;
}

Status lower_scan(LowerContext& c) {
  IM_ASSIGN_OR_RETURN(const auto* body, graph_attr(c, "body"));
  const int n_scan = static_cast<int>(c.ai("num_scan_inputs", 0));
  const bool v8 = c.opset < 9;  // Scan-8: a leading sequence_lens input and a batch axis 0
  const int first = v8 ? 1 : 0;
  const int n_state = c.num_inputs() - first - n_scan;
  if (n_scan <= 0 || n_state < 0) return invalid_argument("num_scan_inputs does not fit the inputs");
  if (v8 && c.has_input(0)) return c.fail("Scan-8 with sequence_lens is not converted");
  std::vector<std::string> states, scans;
  for (int i = 0; i < n_state; ++i) { IM_ASSIGN_OR_RETURN(auto v, c.in(first + i)); states.push_back(v); }
  for (int j = 0; j < n_scan; ++j) { IM_ASSIGN_OR_RETURN(auto v, c.in(first + n_state + j)); scans.push_back(v); }
  auto pad = [](std::vector<int64_t> v, size_t n) { v.resize(n, 0); return v; };
  auto in_dirs = pad(c.aints(v8 ? "directions" : "scan_input_directions"), scans.size());
  auto in_axes = pad(v8 ? std::vector<int64_t>{} : c.aints("scan_input_axes"), scans.size());
  const size_t n_out = static_cast<size_t>(body->output_size()) - states.size();
  auto out_axes = pad(v8 ? std::vector<int64_t>{} : c.aints("scan_output_axes"), n_out);
  auto out_dirs = pad(v8 ? std::vector<int64_t>{} : c.aints("scan_output_directions"), n_out);
  std::vector<std::string> result;
  if (!v8) {
    IM_ASSIGN_OR_RETURN(result, unroll_scan(c, *body, states, scans, in_axes, in_dirs, out_axes, out_dirs));
  } else {
    // Per batch entry: slice every input at b, scan along (what was) axis 1, stack the results on axis 0.
    IM_ASSIGN_OR_RETURN(auto d0, static_shape_of(c, scans[0]));
    const int64_t B = d0[0];
    std::vector<std::vector<std::string>> per_batch(states.size() + n_out);
    auto at = [&](const std::string& v, int64_t b) -> Result<std::string> {
      IM_ASSIGN_OR_RETURN(auto d, static_shape_of(c, v));
      if (d.empty() || d[0] != B) return invalid_argument("Scan-8 inputs must share the batch axis 0");
      std::vector<int64_t> begin(d.size(), 0), size(d.begin(), d.end());
      begin[0] = b;
      size[0] = 1;
      return c.op("squeeze", {{"x", c.op("slice_by_size", {{"x", v}, {"begin", ti32(begin)}, {"size", ti32(size)}})}, {"axes", ti32({0})}});
    };
    for (int64_t b = 0; b < B; ++b) {
      std::vector<std::string> sb, xb;
      for (auto& s : states) { IM_ASSIGN_OR_RETURN(auto v, at(s, b)); sb.push_back(v); }
      for (auto& x : scans) { IM_ASSIGN_OR_RETURN(auto v, at(x, b)); xb.push_back(v); }
      IM_ASSIGN_OR_RETURN(auto r, unroll_scan(c, *body, sb, xb, in_axes, in_dirs, out_axes, out_dirs));
      for (size_t i = 0; i < r.size(); ++i) per_batch[i].push_back(r[i]);
    }
    for (auto& v : per_batch) result.push_back(c.op("stack", {{"values", v}, {"axis", si32(0)}}));
  }
  for (size_t i = 0; i < result.size(); ++i) c.set_out(static_cast<int>(i), result[i]);
  return Status::Ok();
}

// Capability of a node with subgraphs: the first unconvertible node inside them, with its reason.
std::string check_subgraphs(const ::onnx::NodeProto& n, int opset) {
  for (const auto& a : n.attribute()) {
    if (!a.has_g()) continue;
    for (const auto& inner : a.g().node()) {
      std::string why = check_node(inner, opset);
      if (!why.empty()) return "subgraph '" + a.g().name() + "' node '" + inner.name() + "' (" + inner.op_type() + "): " + why;
    }
  }
  return "";
}

}  // namespace

void add_control_lowerings(std::map<std::string, Lowering>& t) {
  t["If"] = {lower_if, check_subgraphs};
  t["Scan"] = {lower_scan, check_subgraphs};
}

}  // namespace ironmill::frontends::onnx
