// Type inference and verification for the control ops (see ops/op_list.def for their signatures).
// Semantics follow coremltools iOS15 control_flow.py / classify.py:
//
//  * cond(pred: bool scalar) with 2 nested blocks (then, else), no block inputs; outputs = the branch
//    outputs, whose types must agree (dims that differ become unknown).
//  * while_loop(loop_vars: tuple) with 2 nested blocks (cond, body), each taking one input per loop var;
//    cond returns one bool scalar, body returns the next loop vars. Runs cond first (0 iterations possible).
//    Outputs = the final loop vars (types merged from loop_vars and body outputs).
//  * make_list(init_length=1, dynamic_length=T, elem_shape: tuple of const scalars (int32 dims, or strings
//    for symbolic dims), dtype="fp32") -> list<tensor<dtype, elem_shape>, length> where length is
//    init_length for a fixed-length list and unknown (`?`) for a dynamic one. A single const 1-D int
//    tensor is also accepted as elem_shape.
//  * list_length -> int32 scalar; list_read(ls, index) -> element; list_write(ls, index, value) -> list;
//    list_gather(ls, indices [K]) -> tensor [K, *elem_shape]; list_scatter(ls, indices [K], value [K, *elem])
//    -> list. Writes past the end grow a dynamic list (new slots zero-filled).
//  * classify(probabilities fp32, classes: const list of string or int64 scalars, len == numel(probabilities))
//    -> (label: the class with the largest probability (first on ties), dict<class, fp64> of all probabilities).
//  * const needs no inference here: the verifier types it from its `val` attribute.
#include <optional>
#include <string>

#include "mil/op_registry.h"

namespace ironmill::mil {
namespace {

std::string ts(const Type& t) { return type_to_string(t); }

// The type both `a` and `b` fit, or nullopt when they are incompatible.
std::optional<Type> merge(const Type& a, const Type& b) {
  if (a == b) return a;
  if (a.kind != b.kind) return std::nullopt;
  if (a.kind == Type::Kind::kTensor) {
    if (a.dtype != b.dtype) return std::nullopt;
    if (!a.rank_known || !b.rank_known || a.dims.size() != b.dims.size()) return Type::unknown_rank(a.dtype);
    Type t = a;
    for (size_t i = 0; i < t.dims.size(); ++i)
      if (a.dims[i] != b.dims[i]) t.dims[i] = kUnknownDim;
    return t;
  }
  if (a.children.size() != b.children.size()) return std::nullopt;
  Type t = a;
  for (size_t i = 0; i < a.children.size(); ++i) {
    auto m = merge(a.children[i], b.children[i]);
    if (!m) return std::nullopt;
    t.children[i] = *m;
  }
  if (a.kind == Type::Kind::kList && a.list_length != b.list_length) t.list_length = kUnknownDim;
  return t;
}

bool is_bool_scalar(const Type& t) {
  if (!t.is_tensor() || t.dtype != DType::kBool || !t.rank_known) return false;
  for (int64_t d : t.dims)
    if (d != 1) return false;  // rank 0, or all-ones shapes such as [1]
  return true;
}

Result<Type> list_type(InferContext& c, const std::string& input = "ls") {
  const Type* t = c.type(input);
  if (!t) return c.error(input, "missing");
  if (t->kind != Type::Kind::kList || t->children.size() != 1)
    return c.error(input, "list expected, got " + ts(*t));
  return *t;
}

Status check_index_scalar(InferContext& c, const std::string& input) {
  IM_ASSIGN_OR_RETURN(Type t, c.tensor_type(input));
  if (t.rank_known && shape_numel(t.dims) != 1 && t.fully_known())
    return c.error(input, "scalar expected, got " + ts(t));
  return Status::Ok();
}

// The element type a value of type `v` must fit in a list of `elem`.
Status check_elem(InferContext& c, const std::string& input, const Type& elem, const Type& v) {
  if (v.dtype != elem.dtype)
    return c.error(input, "dtype " + std::string(dtype_name(v.dtype)) + " must equal the list's element dtype " +
                              std::string(dtype_name(elem.dtype)));
  if (!type_compatible(elem, v)) return c.error(input, ts(v) + " does not fit the list's element type " + ts(elem));
  return Status::Ok();
}

}  // namespace

void register_control_ops(OpRegistry& r) {
  OpSchema* cond = r.mutable_schema("cond");
  cond->num_blocks = 2;
  cond->infer = [](InferContext& c) -> Result<std::vector<Type>> {
    IM_ASSIGN_OR_RETURN(Type pred, c.tensor_type("pred"));
    if (!is_bool_scalar(pred)) return c.error("pred", "bool scalar expected, got " + ts(pred));
    if (c.block_output_types.size() != 2)
      return c.op_error("needs 2 nested blocks (then, else), got " + std::to_string(c.block_output_types.size()));
    for (size_t b = 0; b < 2; ++b)
      if (!c.op().blocks.empty() && !c.op().blocks[b].inputs.empty())
        return c.op_error(std::string(b ? "else" : "then") + " block must not take inputs");
    const auto& t = c.block_output_types[0];
    const auto& f = c.block_output_types[1];
    if (t.size() != f.size())
      return c.op_error("then block returns " + std::to_string(t.size()) + " values, else block " +
                        std::to_string(f.size()));
    std::vector<Type> out;
    for (size_t i = 0; i < t.size(); ++i) {
      auto m = merge(t[i], f[i]);
      if (!m)
        return c.op_error("output " + std::to_string(i) + ": then block returns " + ts(t[i]) + ", else block " + ts(f[i]));
      out.push_back(*m);
    }
    return out;
  };

  OpSchema* loop = r.mutable_schema("while_loop");
  loop->num_blocks = 2;
  loop->infer = [](InferContext& c) -> Result<std::vector<Type>> {
    std::vector<const Type*> vars = c.tuple_types("loop_vars");
    if (vars.empty()) return c.error("loop_vars", "at least one loop variable expected");
    for (size_t i = 0; i < vars.size(); ++i)
      if (!vars[i]) return c.error("loop_vars", "element " + std::to_string(i) + " has no type");
    if (c.block_output_types.size() != 2)
      return c.op_error("needs 2 nested blocks (cond, body), got " + std::to_string(c.block_output_types.size()));
    const auto& blocks = c.op().blocks;
    for (size_t b = 0; b < blocks.size() && b < 2; ++b) {
      const char* which = b ? "body" : "cond";
      if (blocks[b].inputs.size() != vars.size())
        return c.op_error(std::string(which) + " block takes " + std::to_string(blocks[b].inputs.size()) +
                          " inputs, loop_vars has " + std::to_string(vars.size()));
      for (size_t i = 0; i < vars.size(); ++i)
        if (!type_compatible(blocks[b].inputs[i].type, *vars[i]) && !type_compatible(*vars[i], blocks[b].inputs[i].type))
          return c.op_error(std::string(which) + " block input `" + blocks[b].inputs[i].name + "` is " +
                            ts(blocks[b].inputs[i].type) + ", loop var " + std::to_string(i) + " is " + ts(*vars[i]));
    }
    const auto& co = c.block_output_types[0];
    if (co.size() != 1 || !is_bool_scalar(co[0]))
      return c.op_error("cond block must return one bool scalar, got " + std::to_string(co.size()) + " values" +
                        (co.size() == 1 ? " (" + ts(co[0]) + ")" : ""));
    const auto& bo = c.block_output_types[1];
    if (bo.size() != vars.size())
      return c.op_error("body block returns " + std::to_string(bo.size()) + " values, loop_vars has " +
                        std::to_string(vars.size()));
    std::vector<Type> out;
    for (size_t i = 0; i < vars.size(); ++i) {
      // Block inputs may be declared more loosely than the initial values (e.g. `?` dims that grow).
      const Type& in = blocks.size() == 2 ? blocks[1].inputs[i].type : *vars[i];
      auto m = merge(in, bo[i]);
      if (!m) return c.op_error("body output " + std::to_string(i) + " is " + ts(bo[i]) + ", loop var is " + ts(in));
      auto m2 = merge(*m, *vars[i]);
      out.push_back(m2 ? *m2 : *m);
    }
    return out;
  };

  r.mutable_schema("make_list")->infer = [](InferContext& c) -> Result<std::vector<Type>> {
    IM_ASSIGN_OR_RETURN(std::string dts, c.const_string("dtype"));
    auto dt = dtype_from_name(dts);
    if (!dt || *dt == DType::kString) return c.error("dtype", "tensor dtype name expected, got \"" + dts + "\"");
    Shape elem;
    std::vector<const Value*> vals = c.tuple_consts("elem_shape");
    std::vector<const Type*> tys = c.tuple_types("elem_shape");
    if (!c.has("elem_shape")) return c.error("elem_shape", "required input missing");
    const bool one_vector = vals.size() == 1 && vals[0] && vals[0]->is_tensor() && vals[0]->tensor().rank() == 1 &&
                            is_int(vals[0]->tensor().dtype());
    if (one_vector) {
      for (int64_t d : vals[0]->tensor().to_i64()) elem.push_back(d < 0 ? kUnknownDim : d);
    } else {
      for (size_t i = 0; i < vals.size(); ++i) {
        const Value* v = vals[i];
        if (!v || !v->is_tensor() || v->tensor().numel() != 1)
          return c.error("elem_shape", "element " + std::to_string(i) + " must be a const scalar (int32 or string)" +
                                           (tys[i] ? ", got " + ts(*tys[i]) : ""));
        if (v->tensor().dtype() == DType::kString) elem.push_back(kUnknownDim);  // symbolic dim
        else if (is_int(v->tensor().dtype())) elem.push_back(v->tensor().get_i64(0) < 0 ? kUnknownDim : v->tensor().get_i64(0));
        else return c.error("elem_shape", "element " + std::to_string(i) + " must be int32 or string");
      }
    }
    IM_ASSIGN_OR_RETURN(bool dynamic, c.const_bool("dynamic_length"));
    int64_t length = kUnknownDim;
    if (!dynamic) {
      const Tensor* n = c.const_tensor("init_length");
      if (!n || n->numel() != 1) return c.error("init_length", "must be a const scalar for a fixed-length list");
      length = n->get_i64(0);
      if (length < 0) return c.error("init_length", "must be >= 0, got " + std::to_string(length));
    }
    return std::vector<Type>{Type::list(Type::tensor(*dt, elem), length)};
  };

  r.mutable_schema("list_length")->infer = [](InferContext& c) -> Result<std::vector<Type>> {
    IM_ASSIGN_OR_RETURN(Type ls, list_type(c));
    (void)ls;
    return std::vector<Type>{Type::scalar(DType::kInt32)};
  };

  r.mutable_schema("list_read")->infer = [](InferContext& c) -> Result<std::vector<Type>> {
    IM_ASSIGN_OR_RETURN(Type ls, list_type(c));
    IM_RETURN_IF_ERROR(check_index_scalar(c, "index"));
    return std::vector<Type>{ls.children[0]};
  };

  r.mutable_schema("list_write")->infer = [](InferContext& c) -> Result<std::vector<Type>> {
    IM_ASSIGN_OR_RETURN(Type ls, list_type(c));
    IM_RETURN_IF_ERROR(check_index_scalar(c, "index"));
    IM_ASSIGN_OR_RETURN(Type v, c.tensor_type("value"));
    IM_RETURN_IF_ERROR(check_elem(c, "value", ls.children[0], v));
    return std::vector<Type>{ls};
  };

  r.mutable_schema("list_gather")->infer = [](InferContext& c) -> Result<std::vector<Type>> {
    IM_ASSIGN_OR_RETURN(Type ls, list_type(c));
    IM_ASSIGN_OR_RETURN(Type idx, c.tensor_type("indices"));
    if (idx.rank_known && idx.rank() != 1) return c.error("indices", "1-D expected, got " + ts(idx));
    const Type& elem = ls.children[0];
    if (!elem.rank_known) return std::vector<Type>{Type::unknown_rank(elem.dtype)};
    Shape s{idx.rank_known ? idx.dims[0] : kUnknownDim};
    s.insert(s.end(), elem.dims.begin(), elem.dims.end());
    return std::vector<Type>{Type::tensor(elem.dtype, s)};
  };

  r.mutable_schema("list_scatter")->infer = [](InferContext& c) -> Result<std::vector<Type>> {
    IM_ASSIGN_OR_RETURN(Type ls, list_type(c));
    IM_ASSIGN_OR_RETURN(Type idx, c.tensor_type("indices"));
    IM_ASSIGN_OR_RETURN(Type v, c.tensor_type("value"));
    if (idx.rank_known && idx.rank() != 1) return c.error("indices", "1-D expected, got " + ts(idx));
    if (v.rank_known) {
      if (v.rank() < 1) return c.error("value", "rank >= 1 expected ([num_indices, *elem_shape]), got " + ts(v));
      if (idx.rank_known && idx.dims[0] >= 0 && v.dims[0] >= 0 && idx.dims[0] != v.dims[0])
        return c.error("value", "has " + std::to_string(v.dims[0]) + " rows for " + std::to_string(idx.dims[0]) +
                                    " indices");
      Type row = Type::tensor(v.dtype, Shape(v.dims.begin() + 1, v.dims.end()));
      IM_RETURN_IF_ERROR(check_elem(c, "value", ls.children[0], row));
    } else if (v.dtype != ls.children[0].dtype) {
      return c.error("value", "dtype must equal the list's element dtype");
    }
    return std::vector<Type>{ls};
  };

  r.mutable_schema("classify")->infer = [](InferContext& c) -> Result<std::vector<Type>> {
    IM_ASSIGN_OR_RETURN(Type p, c.tensor_type("probabilities"));
    IM_ASSIGN_OR_RETURN(Type ls, list_type(c, "classes"));
    const Type& elem = ls.children[0];
    if (!elem.is_scalar() || (elem.dtype != DType::kString && elem.dtype != DType::kInt64))
      return c.error("classes", "list of string or int64 scalars expected, got " + ts(ls));
    const Value* v = c.const_value("classes");
    if (!v) return c.error("classes", "must be a constant list");
    const auto* items = std::get_if<Value::List>(&v->data);
    if (!items) return c.error("classes", "constant list expected");
    if (p.fully_known() && static_cast<int64_t>(items->elems.size()) != shape_numel(p.dims))
      return c.error("classes", "has " + std::to_string(items->elems.size()) + " classes, probabilities has " +
                                    std::to_string(shape_numel(p.dims)) + " values");
    const Type key = Type::scalar(elem.dtype);
    return std::vector<Type>{key, Type::dict(key, Type::scalar(DType::kFp64))};
  };
}

}  // namespace ironmill::mil
