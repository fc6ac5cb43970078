#include "frontends/coreml/coreml_import.h"

#include <filesystem>

#include "formats/coreml/mlpackage.h"
#include "formats/mapped_file.h"
#include "mil/op_registry.h"

namespace ironmill::frontends::coreml {
namespace pb = CoreML::Specification;
namespace milpb = CoreML::Specification::MILSpec;
namespace fs = std::filesystem;
namespace fc = formats::coreml;
using mil::DType;
using mil::Type;
using mil::Value;

namespace {

struct Reader {
  const std::string& name;  // file, for errors
  const std::shared_ptr<fc::BlobReader>& weights;
  const ImportOptions& opt;

  Status err(const std::string& where, const std::string& msg) const {
    return parse_error(name + ": " + where + ": " + msg);
  }

  Result<Type> type(const milpb::ValueType& vt, const std::string& where) {
    switch (vt.type_case()) {
      case milpb::ValueType::kTensorType: {
        const auto& tt = vt.tensortype();
        auto dt = mil::dtype_from_proto_code(tt.datatype());
        if (!dt) return err(where, "unknown DataType " + std::to_string(tt.datatype()));
        if (tt.rank() < 0) return Type::unknown_rank(*dt);
        if (tt.rank() != tt.dimensions_size())
          return err(where, "tensor rank " + std::to_string(tt.rank()) + " but " + std::to_string(tt.dimensions_size()) +
                                " dimensions");
        mil::Shape dims;
        for (const auto& d : tt.dimensions()) {
          if (d.has_constant()) {
            if (d.constant().size() > (uint64_t(1) << 62)) return err(where, "dimension too large");
            dims.push_back(static_cast<int64_t>(d.constant().size()));
          } else if (d.has_unknown()) {
            if (d.unknown().variadic()) return Type::unknown_rank(*dt);
            dims.push_back(mil::kUnknownDim);
          } else {
            return err(where, "dimension with neither constant nor unknown size");
          }
        }
        return Type::tensor(*dt, dims);
      }
      case milpb::ValueType::kListType: {
        IM_ASSIGN_OR_RETURN(Type e, type(vt.listtype().type(), where));
        int64_t len = mil::kUnknownDim;
        if (vt.listtype().length().has_constant()) len = static_cast<int64_t>(vt.listtype().length().constant().size());
        return Type::list(e, len);
      }
      case milpb::ValueType::kTupleType: {
        std::vector<Type> elems;
        for (const auto& t : vt.tupletype().types()) {
          IM_ASSIGN_OR_RETURN(Type e, type(t, where));
          elems.push_back(std::move(e));
        }
        return Type::tuple(std::move(elems));
      }
      case milpb::ValueType::kDictionaryType: {
        IM_ASSIGN_OR_RETURN(Type k, type(vt.dictionarytype().keytype(), where));
        IM_ASSIGN_OR_RETURN(Type v, type(vt.dictionarytype().valuetype(), where));
        return Type::dict(k, v);
      }
      case milpb::ValueType::kStateType: {
        IM_ASSIGN_OR_RETURN(Type w, type(vt.statetype().wrappedtype(), where));
        return Type::state(w);
      }
      default:
        return err(where, "ValueType without a type");
    }
  }

  Result<mil::Tensor> immediate_tensor(const milpb::TensorValue& tv, const Type& t, const std::string& where) {
    if (!t.is_tensor() || !t.fully_known()) return err(where, "immediate tensor of non-static type " + mil::type_to_string(t));
    // The element count must match before anything is allocated (hostile shapes cannot exhaust memory).
    int64_t n = 1;
    for (int64_t d : t.dims) {
      if (d != 0 && n > (int64_t(1) << 40) / d) return err(where, "shape " + mil::shape_to_string(t.dims) + " is too large");
      n *= d;
    }
    int64_t given = -1;
    switch (tv.value_case()) {
      case milpb::TensorValue::kFloats: given = tv.floats().values_size(); break;
      case milpb::TensorValue::kDoubles: given = tv.doubles().values_size(); break;
      case milpb::TensorValue::kInts: given = tv.ints().values_size(); break;
      case milpb::TensorValue::kLongInts: given = tv.longints().values_size(); break;
      case milpb::TensorValue::kBools: given = tv.bools().values_size(); break;
      case milpb::TensorValue::kStrings: given = tv.strings().values_size(); break;
      case milpb::TensorValue::kBytes: given = -2; break;  // checked by unpack_elements before allocating
      default: break;
    }
    if (given == -1 && n != 0) return err(where, "immediate tensor value has no elements for " + mil::type_to_string(t));
    if (given >= 0 && given != n) return err(where, std::to_string(given) + " values for " + mil::type_to_string(t));
    if (t.dtype == DType::kString && tv.value_case() != milpb::TensorValue::kStrings)
      return err(where, "string tensor without string values");
    auto count = [&](int64_t got) -> Status {
      if (got != n) return err(where, std::to_string(got) + " values for " + mil::type_to_string(t));
      return Status::Ok();
    };
    if (tv.value_case() == milpb::TensorValue::kBytes && t.dtype != DType::kString) {
      const std::string& b = tv.bytes().values();
      auto r = fc::unpack_elements(t.dtype, t.dims, reinterpret_cast<const uint8_t*>(b.data()), b.size());
      if (!r.ok()) return err(where, r.status().message());
      if (t.dtype == DType::kBool || t.dtype == DType::kFp32 || t.dtype == DType::kFp64 || t.dtype == DType::kInt16 ||
          t.dtype == DType::kUint16 || t.dtype == DType::kInt32 || t.dtype == DType::kInt64 || t.dtype == DType::kUint64)
        return err(where, "immediate value field " + std::to_string(tv.value_case()) + " does not hold " +
                              std::string(mil::dtype_name(t.dtype)) + " elements");
      return r;
    }
    mil::Tensor out(t.dtype, t.dims);
    switch (t.dtype) {
      case DType::kBool:
        if (tv.value_case() != milpb::TensorValue::kBools) break;
        IM_RETURN_IF_ERROR(count(tv.bools().values_size()));
        for (int64_t i = 0; i < n; ++i) out.set_i64(i, tv.bools().values(static_cast<int>(i)) ? 1 : 0);
        return out;
      case DType::kFp32:
        if (tv.value_case() != milpb::TensorValue::kFloats) break;
        IM_RETURN_IF_ERROR(count(tv.floats().values_size()));
        if (n) std::memcpy(out.mutable_raw(), tv.floats().values().data(), static_cast<size_t>(n) * 4);
        return out;
      case DType::kFp64:
        if (tv.value_case() != milpb::TensorValue::kDoubles) break;
        IM_RETURN_IF_ERROR(count(tv.doubles().values_size()));
        if (n) std::memcpy(out.mutable_raw(), tv.doubles().values().data(), static_cast<size_t>(n) * 8);
        return out;
      case DType::kInt16: case DType::kUint16: case DType::kInt32:
        if (tv.value_case() != milpb::TensorValue::kInts) break;
        IM_RETURN_IF_ERROR(count(tv.ints().values_size()));
        for (int64_t i = 0; i < n; ++i) out.set_i64(i, tv.ints().values(static_cast<int>(i)));
        return out;
      case DType::kInt64: case DType::kUint64:
        if (tv.value_case() != milpb::TensorValue::kLongInts) break;
        IM_RETURN_IF_ERROR(count(tv.longints().values_size()));
        if (n) std::memcpy(out.mutable_raw(), tv.longints().values().data(), static_cast<size_t>(n) * 8);
        return out;
      case DType::kString: {
        if (tv.value_case() != milpb::TensorValue::kStrings) break;
        IM_RETURN_IF_ERROR(count(tv.strings().values_size()));
        std::vector<std::string> s(tv.strings().values().begin(), tv.strings().values().end());
        return mil::Tensor::from_strings(t.dims, std::move(s));
      }
      default: {
        if (tv.value_case() != milpb::TensorValue::kBytes) break;
        const std::string& b = tv.bytes().values();
        auto r = fc::unpack_elements(t.dtype, t.dims, reinterpret_cast<const uint8_t*>(b.data()), b.size());
        if (!r.ok()) return err(where, r.status().message());
        return r;
      }
    }
    return err(where, "immediate value field " + std::to_string(tv.value_case()) + " does not hold " +
                          std::string(mil::dtype_name(t.dtype)) + " elements");
  }

  Result<Value> value(const milpb::Value& pv, const std::string& where) {
    Value v;
    IM_ASSIGN_OR_RETURN(v.type, type(pv.type(), where));
    if (pv.has_blobfilevalue()) {
      const auto& bf = pv.blobfilevalue();
      if (!v.type.is_tensor() || !v.type.fully_known())
        return err(where, "BLOBFILE value of non-static type " + mil::type_to_string(v.type));
      if (bf.filename() != fc::kWeightsBlobPath)
        return unsupported(name + ": " + where + ": blob file `" + bf.filename() + "` (only " + fc::kWeightsBlobPath +
                           " is supported)");
      if (!weights) return err(where, "refers to " + bf.filename() + " offset " + std::to_string(bf.offset()) +
                                          " but the model has no weight file");
      if (opt.materialize_blobs) {
        auto t = weights->tensor(bf.offset(), v.type.dtype, v.type.dims);
        if (!t.ok()) return t.status().with_context(name + ": " + where);
        v.data = std::move(*t);
      } else {
        IM_RETURN_IF_ERROR(weights->record(bf.offset()).status());  // validate now, load later
        v.data = mil::BlobFileRef{bf.filename(), bf.offset()};
      }
      return v;
    }
    if (!pv.has_immediatevalue()) return err(where, "value is neither immediate nor a blob");
    const auto& iv = pv.immediatevalue();
    switch (iv.value_case()) {
      case milpb::Value::ImmediateValue::kTensor: {
        IM_ASSIGN_OR_RETURN(mil::Tensor t, immediate_tensor(iv.tensor(), v.type, where));
        v.data = std::move(t);
        return v;
      }
      case milpb::Value::ImmediateValue::kTuple: {
        Value::Tuple t;
        for (const auto& e : iv.tuple().values()) {
          IM_ASSIGN_OR_RETURN(Value x, value(e, where));
          t.elems.push_back(std::move(x));
        }
        v.data = std::move(t);
        return v;
      }
      case milpb::Value::ImmediateValue::kList: {
        Value::List l;
        for (const auto& e : iv.list().values()) {
          IM_ASSIGN_OR_RETURN(Value x, value(e, where));
          l.elems.push_back(std::move(x));
        }
        v.data = std::move(l);
        return v;
      }
      case milpb::Value::ImmediateValue::kDictionary: {
        Value::Dict d;
        for (const auto& kv : iv.dictionary().values()) {
          IM_ASSIGN_OR_RETURN(Value k, value(kv.key(), where));
          IM_ASSIGN_OR_RETURN(Value x, value(kv.value(), where));
          d.items.emplace_back(std::move(k), std::move(x));
        }
        v.data = std::move(d);
        return v;
      }
      default:
        return err(where, "empty immediate value");
    }
  }

  Result<mil::NamedType> named(const milpb::NamedValueType& n, const std::string& where) {
    IM_ASSIGN_OR_RETURN(Type t, type(n.type(), where + " `" + n.name() + "`"));
    return mil::NamedType{n.name(), std::move(t)};
  }

  Result<mil::Block> block(const milpb::Block& b, int opset, const std::string& where, int depth) {
    if (depth > 64) return err(where, "blocks nested deeper than 64");
    mil::Block out;
    for (const auto& in : b.inputs()) {
      IM_ASSIGN_OR_RETURN(auto nt, named(in, where + " block input"));
      out.inputs.push_back(std::move(nt));
    }
    out.outputs.assign(b.outputs().begin(), b.outputs().end());
    for (int i = 0; i < b.operations_size(); ++i) {
      IM_ASSIGN_OR_RETURN(mil::Operation op, operation(b.operations(i), opset, where + " op " + std::to_string(i), depth));
      out.operations.push_back(std::move(op));
    }
    return out;
  }

  Result<mil::Operation> operation(const milpb::Operation& po, int opset, const std::string& where0, int depth) {
    const std::string where = where0 + " (`" + po.type() + "`)";
    mil::Operation op;
    op.type = po.type();
    const mil::OpSchema* schema = mil::OpRegistry::get().find(op.type);
    const mil::OpVariant* variant = schema ? schema->variant_for(opset) : nullptr;
    for (const auto& [pname, arg] : po.inputs()) {
      mil::Argument a;
      for (const auto& b : arg.arguments()) {
        if (b.binding_case() == milpb::Argument::Binding::kName) a.bindings.push_back(mil::Binding::ref(b.name()));
        else if (b.binding_case() == milpb::Argument::Binding::kValue) {
          IM_ASSIGN_OR_RETURN(Value v, value(b.value(), where + " input `" + pname + "`"));
          a.bindings.push_back(mil::Binding::constant(std::move(v)));
        } else {
          return err(where, "input `" + pname + "` has an empty binding");
        }
      }
      const mil::InputSpec* spec = variant ? variant->input(pname) : nullptr;
      a.is_tuple = a.bindings.size() != 1 || (spec && spec->kind == mil::InputKind::kTuple);
      op.inputs.emplace(pname, std::move(a));
    }
    for (const auto& o : po.outputs()) {
      IM_ASSIGN_OR_RETURN(auto nt, named(o, where + " output"));
      op.outputs.push_back(std::move(nt));
    }
    for (const auto& b : po.blocks()) {
      IM_ASSIGN_OR_RETURN(mil::Block nb, block(b, opset, where + " nested", depth + 1));
      op.blocks.push_back(std::move(nb));
    }
    for (const auto& [aname, pv] : po.attributes()) {
      IM_ASSIGN_OR_RETURN(Value v, value(pv, where + " attribute `" + aname + "`"));
      op.attributes.emplace(aname, std::move(v));
    }
    return op;
  }
};

void read_flexibility(const pb::FeatureDescription& fd, fc::ModelInfo& info) {
  if (!fd.shortdescription().empty()) info.feature_descriptions[fd.name()] = fd.shortdescription();
  const pb::ArrayFeatureType* at = nullptr;
  if (fd.type().has_multiarraytype()) at = &fd.type().multiarraytype();
  else if (fd.type().has_statetype() && fd.type().statetype().has_arraytype()) at = &fd.type().statetype().arraytype();
  if (!at) return;
  if (at->ShapeFlexibility_case() == pb::ArrayFeatureType::SHAPEFLEXIBILITY_NOT_SET) return;
  fc::ShapeFlexibility f;
  f.default_shape.assign(at->shape().begin(), at->shape().end());
  if (at->has_enumeratedshapes())
    for (const auto& s : at->enumeratedshapes().shapes()) f.enumerated.emplace_back(s.shape().begin(), s.shape().end());
  if (at->has_shaperange())
    for (const auto& r : at->shaperange().sizeranges())
      f.ranges.emplace_back(static_cast<int64_t>(r.lowerbound()), r.upperbound());
  info.flexible_inputs[fd.name()] = std::move(f);
}

// The writer emits a shapeRange for inputs with unknown dims by itself; keep only ranges that differ.
void drop_derived_flexibility(const mil::Program& p, fc::ModelInfo& info) {
  for (const auto& f : p.functions)
    for (const auto& in : f.inputs) {
      auto it = info.flexible_inputs.find(in.name);
      if (it == info.flexible_inputs.end()) continue;
      const Type& t = in.type.kind == Type::Kind::kState && !in.type.children.empty() ? in.type.children[0] : in.type;
      if (!t.is_tensor() || !t.rank_known || t.fully_known() || !it->second.enumerated.empty()) continue;
      fc::ShapeFlexibility d;
      for (int64_t x : t.dims) {
        d.default_shape.push_back(x >= 0 ? x : 1);
        d.ranges.emplace_back(x >= 0 ? x : 1, x >= 0 ? x : -1);
      }
      if (d.default_shape == it->second.default_shape && d.ranges == it->second.ranges) info.flexible_inputs.erase(it);
    }
}

}  // namespace

Result<mil::Tensor> CoreMLModel::resolve_blob(const mil::BlobFileRef& ref, const mil::Type& type) const {
  if (!weights) return not_found(model_path + ": BLOBFILE offset " + std::to_string(ref.offset) + " but no weight file");
  if (ref.path != fc::kWeightsBlobPath) return unsupported("blob file `" + ref.path + "` is not " + fc::kWeightsBlobPath);
  if (!type.is_tensor()) return invalid_argument("BLOBFILE value of non-tensor type");
  return weights->tensor(ref.offset, type.dtype, type.dims);
}

Result<CoreMLModel> import_model_bytes(const std::string& bytes, std::shared_ptr<fc::BlobReader> weights,
                                       const std::string& name, const ImportOptions& options) {
  CoreMLModel out;
  out.model_path = name;
  out.weights = weights;
  if (!out.proto.ParseFromString(bytes))
    return parse_error(name + ": not a valid CoreML.Specification.Model protobuf (" + std::to_string(bytes.size()) + " bytes)");
  const pb::Model& m = out.proto;
  if (!m.has_mlprogram()) {
    if (m.Type_case() == pb::Model::kPipeline || m.Type_case() == pb::Model::kPipelineClassifier ||
        m.Type_case() == pb::Model::kPipelineRegressor)
      return unsupported(name + ": a Core ML pipeline model; only ML Programs are read");
    return unsupported(name + ": not an ML Program (Model.Type case " + std::to_string(m.Type_case()) +
                       "); neural-network and classic models are not read");
  }
  out.info.spec_version = m.specificationversion();
  if (m.specificationversion() < 6)
    return parse_error(name + ": specificationVersion " + std::to_string(m.specificationversion()) +
                       " is below 6, the first with ML Programs");
  const auto& d = m.description();
  if (d.has_metadata()) {
    const auto& md = d.metadata();
    out.info.metadata.short_description = md.shortdescription();
    out.info.metadata.version = md.versionstring();
    out.info.metadata.author = md.author();
    out.info.metadata.license = md.license();
    for (const auto& [k, v] : md.userdefined()) out.info.metadata.user_defined[k] = v;
  }
  for (const auto& f : d.input()) read_flexibility(f, out.info);
  for (const auto& f : d.state()) read_flexibility(f, out.info);
  for (const auto& fd : d.functions()) {
    for (const auto& f : fd.input()) read_flexibility(f, out.info);
    for (const auto& f : fd.state()) read_flexibility(f, out.info);
  }
  for (const auto& f : d.output())
    if (!f.shortdescription().empty()) out.info.feature_descriptions[f.name()] = f.shortdescription();
  for (const auto& fd : d.functions())
    for (const auto& f : fd.output())
      if (!f.shortdescription().empty()) out.info.feature_descriptions[f.name()] = f.shortdescription();
  out.info.default_function = d.defaultfunctionname();

  const auto& prog = m.mlprogram();
  if (prog.version() != 1) return unsupported(name + ": mlProgram.version " + std::to_string(prog.version()) + " (expected 1)");
  Reader r{name, weights, options};
  mil::Program& p = out.program;
  p.text_version = m.specificationversion() >= 9 ? "1.3" : "1.0";
  for (const auto& [k, v] : prog.attributes()) {
    IM_ASSIGN_OR_RETURN(Value x, r.value(v, "program attribute `" + k + "`"));
    p.attributes.emplace(k, std::move(x));
  }
  // Functions in description order (the proto map is unordered), then any others by name.
  std::vector<std::string> order;
  for (const auto& fd : d.functions()) order.push_back(fd.name());
  std::vector<std::string> rest;
  for (const auto& [fname, f] : prog.functions())
    if (std::find(order.begin(), order.end(), fname) == order.end()) rest.push_back(fname);
  std::sort(rest.begin(), rest.end());
  order.insert(order.end(), rest.begin(), rest.end());
  for (const auto& fname : order) {
    auto it = prog.functions().find(fname);
    if (it == prog.functions().end())
      return parse_error(name + ": description names function `" + fname + "`, which the program lacks");
    const auto& pf = it->second;
    const std::string where = "function `" + fname + "`";
    auto tag = mil::opset_tag_from_proto(pf.opset());
    if (!tag) return unsupported(name + ": " + where + ": opset `" + pf.opset() + "` is not CoreML5..CoreML8");
    auto bs = pf.block_specializations().find(pf.opset());
    if (bs == pf.block_specializations().end())
      return parse_error(name + ": " + where + ": no block specialization for its opset " + pf.opset());
    mil::Function f;
    f.name = fname;
    f.opset = *tag;
    for (const auto& in : pf.inputs()) {
      IM_ASSIGN_OR_RETURN(auto nt, r.named(in, where + " input"));
      f.inputs.push_back(std::move(nt));
    }
    for (const auto& [k, v] : pf.attributes()) {
      IM_ASSIGN_OR_RETURN(Value x, r.value(v, where + " attribute `" + k + "`"));
      f.attributes.emplace(k, std::move(x));
    }
    IM_ASSIGN_OR_RETURN(f.body, r.block(bs->second, *mil::opset_version(*tag), where, 0));
    p.functions.push_back(std::move(f));
  }
  if (p.functions.empty()) return parse_error(name + ": the ML Program has no function");
  drop_derived_flexibility(p, out.info);
  return out;
}

Result<CoreMLModel> load_coreml(const std::string& path, const ImportOptions& options) {
  std::error_code ec;
  std::string model_path, weights_path;
  if (fs::is_directory(path, ec)) {
    IM_ASSIGN_OR_RETURN(fc::PackageLayout layout, fc::read_package_layout(path));
    model_path = layout.model_path;
    fs::path w = fs::path(model_path).parent_path() / fc::kWeightsDirName / fc::kWeightsFileName;
    if (fs::exists(w, ec)) weights_path = w.string();
  } else {
    model_path = path;
    fs::path w = fs::path(path).parent_path() / fc::kWeightsDirName / fc::kWeightsFileName;  // @model_path
    if (fs::exists(w, ec)) weights_path = w.string();
  }
  IM_ASSIGN_OR_RETURN(auto file, formats::MappedFile::open(model_path));
  std::string bytes(reinterpret_cast<const char*>(file->data()), file->size());
  std::shared_ptr<fc::BlobReader> weights;
  if (!weights_path.empty()) {
    IM_ASSIGN_OR_RETURN(weights, fc::BlobReader::open_file(weights_path));
  }
  IM_ASSIGN_OR_RETURN(CoreMLModel m, import_model_bytes(bytes, weights, model_path, options));
  m.weights_path = weights_path;
  return m;
}

}  // namespace ironmill::frontends::coreml
