#include "formats/coreml/model_writer.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <set>

#include "formats/coreml/milblob.h"
#include "formats/coreml/mlpackage.h"

namespace ironmill::formats::coreml {
namespace pb = CoreML::Specification;
namespace milpb = CoreML::Specification::MILSpec;
using mil::DType;
using mil::Type;
using mil::Value;

namespace {

bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

struct Writer {
  const WriteOptions& opt;
  int spec = 0;
  BlobWriter blobs;
  bool any_blob = false;

  // coremltools' rule: a const goes to weight.bin iff it has >= 10 elements of a blob dtype.
  bool goes_to_blob(const mil::Tensor& t) const {
    if (!opt.use_weight_file || t.numel() < 10) return false;
    switch (t.dtype()) {
      case DType::kFp16: case DType::kFp32: case DType::kUint8: case DType::kInt8:
      case DType::kInt4: case DType::kUint1: case DType::kUint2: case DType::kUint3: case DType::kUint4:
      case DType::kUint6:
        return true;
      case DType::kInt16: case DType::kUint16: case DType::kInt32: case DType::kUint32:
        return spec >= 9;
      default:
        return false;
    }
  }

  Status type(const Type& t, milpb::ValueType* out) {
    switch (t.kind) {
      case Type::Kind::kTensor: {
        auto* tt = out->mutable_tensortype();
        tt->set_datatype(static_cast<milpb::DataType>(mil::dtype_proto_code(t.dtype)));
        tt->set_rank(t.rank_known ? static_cast<int64_t>(t.dims.size()) : -1);
        if (t.rank_known)
          for (int64_t d : t.dims) {
            auto* dim = tt->add_dimensions();
            if (d >= 0) dim->mutable_constant()->set_size(static_cast<uint64_t>(d));
            else dim->mutable_unknown()->set_variadic(false);
          }
        return Status::Ok();
      }
      case Type::Kind::kList: {
        auto* lt = out->mutable_listtype();
        if (!t.children.empty()) IM_RETURN_IF_ERROR(type(t.children[0], lt->mutable_type()));
        if (t.list_length >= 0) lt->mutable_length()->mutable_constant()->set_size(static_cast<uint64_t>(t.list_length));
        else lt->mutable_length()->mutable_unknown()->set_variadic(false);
        return Status::Ok();
      }
      case Type::Kind::kTuple: {
        auto* tt = out->mutable_tupletype();
        for (const auto& c : t.children) IM_RETURN_IF_ERROR(type(c, tt->add_types()));
        return Status::Ok();
      }
      case Type::Kind::kDict: {
        if (t.children.size() != 2) return invalid_argument("dict type without key/value types");
        auto* dt = out->mutable_dictionarytype();
        IM_RETURN_IF_ERROR(type(t.children[0], dt->mutable_keytype()));
        return type(t.children[1], dt->mutable_valuetype());
      }
      case Type::Kind::kState: {
        if (t.children.size() != 1) return invalid_argument("state type without a wrapped type");
        return type(t.children[0], out->mutable_statetype()->mutable_wrappedtype());
      }
    }
    return internal_error("unknown type kind");
  }

  static void immediate_tensor(const mil::Tensor& t, milpb::TensorValue* out) {
    const int64_t n = t.numel();
    switch (t.dtype()) {
      case DType::kBool: {
        auto* v = out->mutable_bools();
        for (int64_t i = 0; i < n; ++i) v->add_values(t.get_i64(i) != 0);
        return;
      }
      case DType::kFp32: {
        auto* v = out->mutable_floats();
        const float* p = t.data<float>();
        v->mutable_values()->Add(p, p + n);
        return;
      }
      case DType::kFp64: {
        auto* v = out->mutable_doubles();
        const double* p = t.data<double>();
        v->mutable_values()->Add(p, p + n);
        return;
      }
      case DType::kInt16: case DType::kUint16: case DType::kInt32: {
        auto* v = out->mutable_ints();
        for (int64_t i = 0; i < n; ++i) v->add_values(static_cast<int32_t>(t.get_i64(i)));
        return;
      }
      case DType::kInt64: case DType::kUint64: {
        auto* v = out->mutable_longints();
        const int64_t* p = t.data<int64_t>();
        v->mutable_values()->Add(p, p + n);
        return;
      }
      case DType::kString: {
        auto* v = out->mutable_strings();
        for (int64_t i = 0; i < n; ++i) v->add_values(t.get_string(i));
        return;
      }
      default:  // fp16, bf16, int8, uint8, uint32, int4, uint1..6, fp8: raw little-endian / bit-packed bytes
        out->mutable_bytes()->set_values(pack_elements(t));
        return;
    }
  }

  Status tensor_value(const mil::Tensor& t, bool blob_ok, milpb::Value* out) {
    if (blob_ok && goes_to_blob(t)) {
      IM_ASSIGN_OR_RETURN(uint64_t off, blobs.add(t));
      any_blob = true;
      out->mutable_blobfilevalue()->set_filename(kWeightsBlobPath);
      out->mutable_blobfilevalue()->set_offset(off);
      return Status::Ok();
    }
    immediate_tensor(t, out->mutable_immediatevalue()->mutable_tensor());
    return Status::Ok();
  }

  Status value(const Value& v, bool blob_ok, milpb::Value* out) {
    IM_RETURN_IF_ERROR(type(v.type, out->mutable_type()));
    if (const auto* t = std::get_if<mil::Tensor>(&v.data)) return tensor_value(*t, blob_ok, out);
    if (const auto* b = std::get_if<mil::BlobFileRef>(&v.data)) {
      if (!opt.blob_source)
        return unsupported("BLOBFILE(" + b->path + ", offset " + std::to_string(b->offset) +
                           ") but no weight source was given to the writer");
      IM_ASSIGN_OR_RETURN(mil::Tensor t, opt.blob_source(*b, v.type));
      return tensor_value(t, true, out);
    }
    if (const auto* l = std::get_if<std::shared_ptr<const mil::LazyTensorSource>>(&v.data)) {
      IM_ASSIGN_OR_RETURN(mil::Tensor t, (*l)->load());
      return tensor_value(t, blob_ok, out);
    }
    auto* imm = out->mutable_immediatevalue();
    if (const auto* tu = std::get_if<Value::Tuple>(&v.data)) {
      auto* o = imm->mutable_tuple();
      for (const auto& e : tu->elems) IM_RETURN_IF_ERROR(value(e, false, o->add_values()));
      return Status::Ok();
    }
    if (const auto* li = std::get_if<Value::List>(&v.data)) {
      auto* o = imm->mutable_list();
      for (const auto& e : li->elems) IM_RETURN_IF_ERROR(value(e, false, o->add_values()));
      return Status::Ok();
    }
    const auto& d = std::get<Value::Dict>(v.data);
    auto* o = imm->mutable_dictionary();
    for (const auto& [k, val] : d.items) {
      auto* kv = o->add_values();
      IM_RETURN_IF_ERROR(value(k, false, kv->mutable_key()));
      IM_RETURN_IF_ERROR(value(val, false, kv->mutable_value()));
    }
    return Status::Ok();
  }

  Status named(const mil::NamedType& nt, milpb::NamedValueType* out) {
    out->set_name(nt.name);
    return type(nt.type, out->mutable_type());
  }

  Status block(const mil::Block& b, milpb::Block* out) {
    for (const auto& in : b.inputs) IM_RETURN_IF_ERROR(named(in, out->add_inputs()));
    for (const auto& o : b.outputs) out->add_outputs(o);
    for (const auto& op : b.operations) IM_RETURN_IF_ERROR(operation(op, out->add_operations()));
    return Status::Ok();
  }

  Status operation(const mil::Operation& op, milpb::Operation* out) {
    const std::string who = "`" + op.type + "` (" + op.name() + ")";
    const bool weights_op = op.type == "const" || starts_with(op.type, "constexpr_");
    out->set_type(op.type);
    for (const auto& [pname, arg] : op.inputs) {
      auto& a = (*out->mutable_inputs())[pname];
      for (const auto& b : arg.bindings) {
        auto* pb_b = a.add_arguments();
        if (b.is_ref()) pb_b->set_name(b.name);
        else if (auto s = value(*b.value, weights_op, pb_b->mutable_value()); !s.ok())
          return s.with_context(who + " input `" + pname + "`");
      }
    }
    for (const auto& o : op.outputs) IM_RETURN_IF_ERROR(named(o, out->add_outputs()));
    for (const auto& b : op.blocks) IM_RETURN_IF_ERROR(block(b, out->add_blocks()));
    for (const auto& [aname, v] : op.attributes)
      if (auto s = value(v, weights_op && aname != "name", &(*out->mutable_attributes())[aname]); !s.ok())
        return s.with_context(who + " attribute `" + aname + "`");
    // Core ML requires every op to carry its name.
    if (!op.attributes.count("name"))
      IM_RETURN_IF_ERROR(value(Value::of(mil::Tensor::scalar_string(op.name())), false, &(*out->mutable_attributes())["name"]));
    return Status::Ok();
  }

  // ---- model description ----

  Result<pb::ArrayFeatureType::ArrayDataType> array_dtype(DType d, const std::string& feature) const {
    switch (d) {
      case DType::kFp32: return pb::ArrayFeatureType::FLOAT32;
      case DType::kFp64: return pb::ArrayFeatureType::DOUBLE;
      case DType::kInt32: return pb::ArrayFeatureType::INT32;
      case DType::kFp16:
        if (spec < 7) return unsupported("feature `" + feature + "`: fp16 multi-arrays need specification 7 (iOS16)");
        return pb::ArrayFeatureType::FLOAT16;
      default:
        return unsupported("feature `" + feature + "`: Core ML multi-arrays are fp32, fp64, int32 or fp16, not " +
                           std::string(mil::dtype_name(d)));
    }
  }

  Status array_feature(const std::string& name, const Type& t, bool is_input, pb::ArrayFeatureType* out) {
    if (!t.is_tensor()) return unsupported("feature `" + name + "` is not a tensor (" + mil::type_to_string(t) + ")");
    if (!t.rank_known) return unsupported("feature `" + name + "` has unknown rank");
    IM_ASSIGN_OR_RETURN(auto dt, array_dtype(t.dtype, name));
    out->set_datatype(dt);
    auto flex = opt.info.flexible_inputs.find(name);
    if (is_input && flex != opt.info.flexible_inputs.end()) {
      for (int64_t d : flex->second.default_shape) out->add_shape(d);
      if (!flex->second.enumerated.empty()) {
        auto* e = out->mutable_enumeratedshapes();
        for (const auto& s : flex->second.enumerated) {
          auto* sh = e->add_shapes();
          for (int64_t d : s) sh->add_shape(d);
        }
      } else {
        auto* r = out->mutable_shaperange();
        for (const auto& [lo, hi] : flex->second.ranges) {
          auto* sr = r->add_sizeranges();
          sr->set_lowerbound(static_cast<uint64_t>(lo));
          sr->set_upperbound(hi);
        }
      }
      return Status::Ok();
    }
    if (t.dims.empty()) {  // scalars are [1] in the description
      out->add_shape(1);
      return Status::Ok();
    }
    const bool fixed = t.fully_known();
    if (!is_input && !fixed) return Status::Ok();  // outputs: shape only when static
    for (int64_t d : t.dims) out->add_shape(d >= 0 ? d : 1);
    if (!fixed) {  // unknown dims: default 1, unbounded range
      auto* r = out->mutable_shaperange();
      for (int64_t d : t.dims) {
        auto* sr = r->add_sizeranges();
        sr->set_lowerbound(d >= 0 ? static_cast<uint64_t>(d) : 1);
        sr->set_upperbound(d >= 0 ? d : -1);
      }
    }
    return Status::Ok();
  }

  Status feature(const std::string& name, const Type& t, bool is_input, pb::FeatureDescription* out) {
    out->set_name(name);
    auto d = opt.info.feature_descriptions.find(name);
    if (d != opt.info.feature_descriptions.end()) out->set_shortdescription(d->second);
    if (t.kind == Type::Kind::kState) {
      if (t.children.empty() || !t.children[0].is_tensor() || t.children[0].dtype != DType::kFp16)
        return unsupported("state `" + name + "`: Core ML states are fp16 tensors, got " + mil::type_to_string(t));
      return array_feature(name, t.children[0], true, out->mutable_type()->mutable_statetype()->mutable_arraytype());
    }
    return array_feature(name, t, is_input, out->mutable_type()->mutable_multiarraytype());
  }

  template <class Desc>
  Status describe_function(const mil::Function& f, Desc* in_list, Desc* out_list, Desc* state_list) {
    std::map<std::string, const Type*> types;
    for (const auto& in : f.inputs) types[in.name] = &in.type;
    for (const auto& op : f.body.operations)
      for (const auto& o : op.outputs) types[o.name] = &o.type;
    for (const auto& in : f.inputs)
      IM_RETURN_IF_ERROR(feature(in.name, in.type, true, in.type.kind == Type::Kind::kState ? state_list->Add() : in_list->Add()));
    for (const auto& o : f.body.outputs) {
      auto it = types.find(o);
      if (it == types.end()) return invalid_argument("function `" + f.name + "` returns `" + o + "`, which it never defines");
      IM_RETURN_IF_ERROR(feature(o, *it->second, false, out_list->Add()));
    }
    return Status::Ok();
  }
};

}  // namespace

Result<int> required_spec_version(const mil::Program& program, const ModelInfo& info, std::string* reason) {
  int need = 6;
  std::string why = "ML Program needs specification 6 (iOS15)";
  auto bump = [&](int v, std::string w) { if (v > need) { need = v; why = std::move(w); } };
  if (program.functions.empty()) return invalid_argument("the program has no function");
  for (const auto& f : program.functions) {
    auto o = mil::opset_version(f.opset);
    if (!o || *o < 15 || *o > 18) return unsupported("function `" + f.name + "`: opset `" + f.opset + "` is not ios15..ios18");
    bump(spec_for_opset(*o), "function `" + f.name + "` uses opset " + f.opset);
    bool has_input = false;
    for (const auto& in : f.inputs) {
      if (in.type.kind == Type::Kind::kState) bump(9, "state `" + in.name + "` (states need iOS18)");
      else has_input = true;
      if (in.type.is_tensor() && in.type.dtype == DType::kFp16) bump(7, "fp16 input `" + in.name + "` (iOS16)");
    }
    if (!has_input) bump(9, "function `" + f.name + "` has no inputs (allowed from iOS18)");
  }
  if (program.functions.size() > 1 || !info.default_function.empty()) bump(9, "several functions (iOS18)");
  if (reason) *reason = why;
  if (info.spec_version != 0) {
    if (info.spec_version < 6 || info.spec_version > 9)
      return invalid_argument("specification version " + std::to_string(info.spec_version) + " is not 6..9 (ios15..ios18)");
    if (info.spec_version < need)
      return unsupported("specification " + std::to_string(info.spec_version) + " is too low: " + why + " (needs " +
                         std::to_string(need) + ")");
    return info.spec_version;
  }
  return need;
}

std::string serialize_deterministic(const google::protobuf::MessageLite& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream sos(&out);
    google::protobuf::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&cos);
  }
  return out;
}

Result<SerializedModel> serialize_model(const mil::Program& program, const WriteOptions& options) {
  std::string reason;
  IM_ASSIGN_OR_RETURN(int spec, required_spec_version(program, options.info, &reason));
  Writer w{options};
  w.spec = spec;
  SerializedModel out;
  out.spec_version = spec;
  pb::Model& m = out.model;
  m.set_specificationversion(spec);
  auto* desc = m.mutable_description();
  const bool multi = program.functions.size() > 1 || !options.info.default_function.empty();
  if (multi) {
    const std::string def = options.info.default_function.empty() ? program.functions[0].name : options.info.default_function;
    if (!program.function(def)) return invalid_argument("default function `" + def + "` is not in the program");
    for (const auto& f : program.functions) {
      auto* fd = desc->add_functions();
      fd->set_name(f.name);
      IM_RETURN_IF_ERROR(w.describe_function(f, fd->mutable_input(), fd->mutable_output(), fd->mutable_state()));
    }
    desc->set_defaultfunctionname(def);
  } else {
    IM_RETURN_IF_ERROR(w.describe_function(program.functions[0], desc->mutable_input(), desc->mutable_output(),
                                           desc->mutable_state()));
  }
  const ModelMetadata& md = options.info.metadata;
  if (!md.empty()) {
    auto* meta = desc->mutable_metadata();
    meta->set_shortdescription(md.short_description);
    meta->set_versionstring(md.version);
    meta->set_author(md.author);
    meta->set_license(md.license);
    for (const auto& [k, v] : md.user_defined) (*meta->mutable_userdefined())[k] = v;
  }

  auto* prog = m.mutable_mlprogram();
  prog->set_version(1);
  for (const auto& [k, v] : program.attributes) IM_RETURN_IF_ERROR(w.value(v, false, &(*prog->mutable_attributes())[k]));
  for (const auto& f : program.functions) {
    if (prog->functions().count(f.name)) return invalid_argument("function `" + f.name + "` is defined twice");
    auto& pf = (*prog->mutable_functions())[f.name];
    for (const auto& in : f.inputs) IM_RETURN_IF_ERROR(w.named(in, pf.add_inputs()));
    const std::string opset = mil::opset_proto_from_tag(f.opset);
    pf.set_opset(opset);
    for (const auto& [k, v] : f.attributes) IM_RETURN_IF_ERROR(w.value(v, false, &(*pf.mutable_attributes())[k]));
    if (auto s = w.block(f.body, &(*pf.mutable_block_specializations())[opset]); !s.ok())
      return s.with_context("function `" + f.name + "`");
  }
  out.model_bytes = serialize_deterministic(m);
  if (w.any_blob) out.weights = w.blobs.bytes();
  return out;
}

Status write_mlpackage(const std::string& dir, const mil::Program& program, const WriteOptions& options) {
  IM_ASSIGN_OR_RETURN(SerializedModel s, serialize_model(program, options));
  return write_package(dir, PackageContents{std::move(s.model_bytes), std::move(s.weights)});
}

Status write_mlmodel(const std::string& path, const mil::Program& program, WriteOptions options) {
  options.use_weight_file = false;
  IM_ASSIGN_OR_RETURN(SerializedModel s, serialize_model(program, options));
  return write_model_file(path, s.model_bytes);
}

}  // namespace ironmill::formats::coreml
