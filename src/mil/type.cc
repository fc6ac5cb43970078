#include "mil/type.h"

namespace ironmill::mil {

bool Type::fully_known() const {
  if (!is_tensor() || !rank_known) return false;
  for (int64_t d : dims)
    if (d < 0) return false;
  return true;
}

bool Type::operator==(const Type& o) const {
  if (kind != o.kind) return false;
  switch (kind) {
    case Kind::kTensor: return dtype == o.dtype && rank_known == o.rank_known && dims == o.dims;
    case Kind::kList: return list_length == o.list_length && children == o.children;
    default: return children == o.children;
  }
}

std::string type_to_string(const Type& t, bool legacy) {
  switch (t.kind) {
    case Type::Kind::kTensor: {
      if (!t.rank_known) return "tensor<" + std::string(dtype_name(t.dtype)) + ", *>";
      if (t.dims.empty() && !legacy) return std::string(dtype_name(t.dtype));
      std::string s = "tensor<" + std::string(dtype_name(t.dtype)) + ", [";
      for (size_t i = 0; i < t.dims.size(); ++i) {
        if (i) s += ", ";
        s += t.dims[i] < 0 ? "?" : std::to_string(t.dims[i]);
      }
      return s + "]>";
    }
    case Type::Kind::kList: {
      std::string len = t.list_length < 0 ? "?" : std::to_string(t.list_length);
      return "list<" + type_to_string(t.children[0], legacy) + ", " + len + ">";
    }
    case Type::Kind::kTuple: {
      std::string s = "tuple<";
      for (size_t i = 0; i < t.children.size(); ++i) s += (i ? ", " : "") + type_to_string(t.children[i], legacy);
      return s + ">";
    }
    case Type::Kind::kDict:
      return "dict<" + type_to_string(t.children[0], legacy) + ", " + type_to_string(t.children[1], legacy) + ">";
    case Type::Kind::kState:
      return "state<" + type_to_string(t.children[0], /*legacy=*/true) + ">";
  }
  return "?";
}

bool type_compatible(const Type& e, const Type& a) {
  if (e.kind != a.kind) return false;
  if (e.kind == Type::Kind::kTensor) {
    if (e.dtype != a.dtype) return false;
    if (!e.rank_known || !a.rank_known) return true;
    if (e.dims.size() != a.dims.size()) return false;
    for (size_t i = 0; i < e.dims.size(); ++i)
      if (e.dims[i] >= 0 && a.dims[i] >= 0 && e.dims[i] != a.dims[i]) return false;
    return true;
  }
  if (e.children.size() != a.children.size()) return false;
  for (size_t i = 0; i < e.children.size(); ++i)
    if (!type_compatible(e.children[i], a.children[i])) return false;
  return true;
}

}  // namespace ironmill::mil
