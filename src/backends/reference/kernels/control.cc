// Reference kernels for the control ops (semantics: mil/ops/control.cc header comment).
// Lists are values: list_write / list_scatter return a new ListValue (tensors inside share storage,
// copy-on-write), so an earlier list value is never changed by a later write.
#include <cmath>
#include <cstring>

#include "backends/reference/kernel.h"

namespace ironmill::backends::reference {
namespace {

using mil::DType;
using mil::Shape;
using mil::Tensor;
using mil::Type;

// Upper bound on while_loop iterations, so a runaway loop in a hostile program ends with an error.
constexpr int64_t kMaxLoopIterations = 100'000'000;

Result<ListValue> list_input(KernelContext& c, const std::string& name = "ls") {
  IM_ASSIGN_OR_RETURN(RtValue v, c.value(name));
  auto* l = std::get_if<ListValue>(&v);
  if (!l) return c.error("input `" + name + "`: list expected");
  return *l;
}

// Shape of an element: the declared element dims, unknown dims as 0 (an empty, never written slot).
Shape slot_shape(const Type& elem) {
  Shape s;
  if (!elem.rank_known) return s;
  for (int64_t d : elem.dims) s.push_back(d < 0 ? 0 : d);
  return s;
}

Status check_value(KernelContext& c, const ListValue& ls, const Tensor& v) {
  const Type& e = ls.elem_type;
  if (v.dtype() != e.dtype)
    return c.error("value dtype " + std::string(mil::dtype_name(v.dtype())) + " does not match the list's " +
                   std::string(mil::dtype_name(e.dtype)));
  if (e.rank_known) {
    bool ok = static_cast<size_t>(v.rank()) == e.dims.size();
    for (size_t i = 0; ok && i < e.dims.size(); ++i) ok = e.dims[i] < 0 || e.dims[i] == v.shape()[i];
    if (!ok) return c.error("value shape " + mil::shape_to_string(v.shape()) + " does not fit the list element " +
                            mil::type_to_string(e));
  }
  return Status::Ok();
}

// Stores v at `index`, growing a dynamic list (new slots zero-filled).
Status store(KernelContext& c, ListValue& ls, int64_t index, const Tensor& v) {
  IM_RETURN_IF_ERROR(check_value(c, ls, v));
  if (index < 0) return c.error("index " + std::to_string(index) + " is negative");
  if (index >= static_cast<int64_t>(ls.items.size())) {
    if (!ls.dynamic_length)
      return c.error("index " + std::to_string(index) + " is past the end of a fixed-length list of " +
                     std::to_string(ls.items.size()));
    while (static_cast<int64_t>(ls.items.size()) <= index) ls.items.push_back(Tensor(v.dtype(), v.shape()));
  }
  ls.items[static_cast<size_t>(index)] = v;
  return Status::Ok();
}

Result<Tensor> item(KernelContext& c, const ListValue& ls, int64_t index) {
  if (index < 0 || index >= static_cast<int64_t>(ls.items.size()))
    return c.error("index " + std::to_string(index) + " out of range for a list of length " +
                   std::to_string(ls.items.size()));
  return ls.items[static_cast<size_t>(index)];
}

}  // namespace

void register_control_kernels(KernelTable& t) {
  t.add("cond", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor pred, c.tensor("pred"));
    if (pred.numel() != 1) return c.error("pred must be a scalar");
    IM_ASSIGN_OR_RETURN(auto outs, c.run_block(pred.get_i64(0) != 0 ? 0 : 1, {}));
    if (outs.size() != c.outputs().size())
      return c.error("branch returned " + std::to_string(outs.size()) + " values for " +
                     std::to_string(c.outputs().size()) + " outputs");
    for (size_t i = 0; i < outs.size(); ++i) c.set_output(i, std::move(outs[i]));
    return Status::Ok();
  });

  t.add("while_loop", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(std::vector<RtValue> vars, c.tuple("loop_vars"));
    for (int64_t it = 0;; ++it) {
      if (it >= kMaxLoopIterations) return c.error("more than " + std::to_string(kMaxLoopIterations) + " iterations");
      IM_ASSIGN_OR_RETURN(auto go, c.run_block(0, vars));
      const Tensor* g = go.size() == 1 ? std::get_if<Tensor>(&go[0]) : nullptr;
      if (!g || g->numel() != 1) return c.error("cond block must return one bool scalar");
      if (g->get_i64(0) == 0) break;
      IM_ASSIGN_OR_RETURN(auto next, c.run_block(1, vars));
      if (next.size() != vars.size())
        return c.error("body returned " + std::to_string(next.size()) + " values for " + std::to_string(vars.size()) +
                       " loop vars");
      vars = std::move(next);
    }
    if (vars.size() != c.outputs().size()) return c.error("loop var count does not match the outputs");
    for (size_t i = 0; i < vars.size(); ++i) c.set_output(i, std::move(vars[i]));
    return Status::Ok();
  });

  t.add("make_list", [](KernelContext& c) -> Status {
    const Type& lt = c.outputs().at(0).type;
    if (lt.kind != Type::Kind::kList || lt.children.empty()) return c.error("output must be a list");
    ListValue ls;
    ls.elem_type = lt.children[0];
    IM_ASSIGN_OR_RETURN(ls.dynamic_length, c.get_bool("dynamic_length"));
    IM_ASSIGN_OR_RETURN(int64_t n, c.get_int("init_length"));
    if (n < 0) return c.error("init_length must be >= 0, got " + std::to_string(n));
    if (n > (int64_t{1} << 24)) return c.error("init_length " + std::to_string(n) + " is too large");
    const Shape s = slot_shape(ls.elem_type);
    ls.items.assign(static_cast<size_t>(n), Tensor(ls.elem_type.dtype, s));
    c.set_output(0, std::move(ls));
    return Status::Ok();
  });

  t.add("list_length", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(ListValue ls, list_input(c));
    c.set_output(0, Tensor::scalar_i64(DType::kInt32, static_cast<int64_t>(ls.items.size())));
    return Status::Ok();
  });

  t.add("list_read", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(ListValue ls, list_input(c));
    IM_ASSIGN_OR_RETURN(int64_t i, c.get_int("index"));
    IM_ASSIGN_OR_RETURN(Tensor v, item(c, ls, i));
    c.set_output(0, v);
    return Status::Ok();
  });

  t.add("list_write", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(ListValue ls, list_input(c));
    IM_ASSIGN_OR_RETURN(int64_t i, c.get_int("index"));
    IM_ASSIGN_OR_RETURN(Tensor v, c.tensor("value"));
    IM_RETURN_IF_ERROR(store(c, ls, i, v));
    c.set_output(0, std::move(ls));
    return Status::Ok();
  });

  t.add("list_gather", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(ListValue ls, list_input(c));
    IM_ASSIGN_OR_RETURN(std::vector<int64_t> idx, c.get_ints("indices"));
    std::vector<Tensor> rows;
    for (int64_t i : idx) {
      IM_ASSIGN_OR_RETURN(Tensor v, item(c, ls, i));
      rows.push_back(v);
    }
    const Type& ot = c.outputs().at(0).type;
    Shape elem = rows.empty() ? slot_shape(ls.elem_type) : rows[0].shape();
    for (const auto& r : rows)
      if (r.shape() != elem)
        return c.error("list elements have different shapes: " + mil::shape_to_string(elem) + " and " +
                       mil::shape_to_string(r.shape()));
    Shape s{static_cast<int64_t>(rows.size())};
    s.insert(s.end(), elem.begin(), elem.end());
    Tensor out(ot.dtype, s);
    const size_t eb = static_cast<size_t>(mil::dtype_element_bytes(ot.dtype));
    const size_t row_bytes = static_cast<size_t>(mil::shape_numel(elem)) * eb;
    uint8_t* dst = out.mutable_raw();
    for (size_t r = 0; r < rows.size(); ++r) {
      if (rows[r].dtype() != ot.dtype) return c.error("list element dtype does not match the output");
      if (row_bytes) std::memcpy(dst + r * row_bytes, rows[r].raw(), row_bytes);
    }
    c.set_output(0, out);
    return Status::Ok();
  });

  t.add("list_scatter", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(ListValue ls, list_input(c));
    IM_ASSIGN_OR_RETURN(std::vector<int64_t> idx, c.get_ints("indices"));
    IM_ASSIGN_OR_RETURN(Tensor v, c.tensor("value"));
    if (v.rank() < 1 || v.dim(0) != static_cast<int64_t>(idx.size()))
      return c.error("value " + mil::shape_to_string(v.shape()) + " needs one row per index (" +
                     std::to_string(idx.size()) + ")");
    Shape row_shape(v.shape().begin() + 1, v.shape().end());
    const size_t row_bytes = static_cast<size_t>(mil::shape_numel(row_shape)) *
                             static_cast<size_t>(mil::dtype_element_bytes(v.dtype()));
    for (size_t r = 0; r < idx.size(); ++r) {
      Tensor row(v.dtype(), row_shape);
      if (row_bytes) std::memcpy(row.mutable_raw(), v.raw() + r * row_bytes, row_bytes);
      IM_RETURN_IF_ERROR(store(c, ls, idx[r], row));
    }
    c.set_output(0, std::move(ls));
    return Status::Ok();
  });

  t.add("classify", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor p, c.tensor("probabilities"));
    IM_ASSIGN_OR_RETURN(ListValue classes, list_input(c, "classes"));
    if (static_cast<int64_t>(classes.items.size()) != p.numel())
      return c.error(std::to_string(classes.items.size()) + " classes for " + std::to_string(p.numel()) +
                     " probabilities");
    if (p.numel() == 0) return c.error("no probabilities");
    DictValue d;
    int64_t best = 0;
    for (int64_t i = 0; i < p.numel(); ++i) {
      const double v = p.get_f64(i);
      // First maximum wins (numpy argmax); a NaN is the maximum, like np.argmax.
      const double b = p.get_f64(best);
      if (!std::isnan(b) && (std::isnan(v) || v > b)) best = i;
      d.items.emplace_back(classes.items[static_cast<size_t>(i)], Tensor::scalar_f64(DType::kFp64, v));
    }
    c.set_output(0, classes.items[static_cast<size_t>(best)]);
    c.set_output(1, std::move(d));
    return Status::Ok();
  });
}

}  // namespace ironmill::backends::reference
