#include "formats/bundles/ironml.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

#include "formats/bundles/blob_storage.h"
#include "mil/text.h"
#include "mil/verifier.h"

namespace ironmill::formats::bundles {
namespace fs = std::filesystem;
using json = nlohmann::json;

std::string weight_path_for(const std::string& sub) { return "@model_path/weights/" + sub + ".bin"; }

std::string ironml_dtype_name(mil::DType d) {
  switch (d) {
    case mil::DType::kFp16: return "float16";
    case mil::DType::kFp32: return "float32";
    case mil::DType::kFp64: return "float64";
    case mil::DType::kInt8: return "int8";
    case mil::DType::kInt16: return "int16";
    case mil::DType::kInt32: return "int32";
    case mil::DType::kInt64: return "int64";
    case mil::DType::kUint8: return "u_int8";
    case mil::DType::kUint16: return "u_int16";
    case mil::DType::kUint32: return "u_int32";
    case mil::DType::kUint64: return "u_int64";
    case mil::DType::kBool: return "bool";
    default: return std::string(mil::dtype_name(d));
  }
}

namespace {

bool valid_sub_name(const std::string& n) {
  if (n.empty() || n.size() > 128) return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

Result<IoSpec> io_spec(const std::string& name, const mil::Type& t) {
  if (!t.is_tensor() || !t.fully_known() || t.rank() != 4)
    return invalid_argument("I/O `" + name + "` is " + mil::type_to_string(t) + ": a bundle's I/O must be static [N,C,H,W]");
  return IoSpec{name, t.dims, ironml_dtype_name(t.dtype)};
}

Status write_file(const fs::path& p, const void* data, size_t n) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  if (!out) return io_error("cannot write " + p.string());
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  if (!out) return io_error("short write to " + p.string());
  return Status::Ok();
}

Result<std::vector<uint8_t>> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return io_error("cannot open " + p.string());
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

json io_json(const std::vector<IoSpec>& v) {
  json a = json::array();
  for (const auto& s : v) a.push_back({{"name", s.name}, {"shape", s.shape}, {"dtype", s.dtype}});
  return a;
}

Result<std::vector<IoSpec>> io_from_json(const json& j, const std::string& where) {
  if (!j.is_array()) return invalid_argument(where + ": array expected");
  std::vector<IoSpec> out;
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string w = where + "[" + std::to_string(i) + "]";
    const auto& e = j[i];
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string()) return invalid_argument(w + ".name: string expected");
    if (!e.contains("shape") || !e["shape"].is_array() || e["shape"].size() != 4)
      return invalid_argument(w + ".shape: 4 dimensions [N,C,H,W] expected");
    IoSpec s;
    s.name = e["name"];
    for (const auto& d : e["shape"]) {
      if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<int64_t>() > 0))
        return invalid_argument(w + ".shape: positive integers expected");
      s.shape.push_back(d.get<int64_t>());
    }
    if (!e.contains("dtype") || !e["dtype"].is_string()) return invalid_argument(w + ".dtype: string expected");
    s.dtype = e["dtype"];
    out.push_back(s);
  }
  return out;
}

bool same_io(const std::vector<IoSpec>& a, const std::vector<IoSpec>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].name != b[i].name || a[i].shape != b[i].shape || a[i].dtype != b[i].dtype) return false;
  return true;
}

Status io_of(const mil::Program& p, std::vector<IoSpec>& ins, std::vector<IoSpec>& outs) {
  const mil::Function* f = p.function("main");
  if (!f) return invalid_argument("the program has no `main` function");
  std::map<std::string, mil::Type> types;
  for (const auto& in : f->inputs) {
    types[in.name] = in.type;
    IM_ASSIGN_OR_RETURN(IoSpec s, io_spec(in.name, in.type));
    ins.push_back(s);
  }
  for (const auto& op : f->body.operations)
    for (const auto& o : op.outputs) types[o.name] = o.type;
  for (const auto& o : f->body.outputs) {
    IM_ASSIGN_OR_RETURN(IoSpec s, io_spec(o, types[o]));
    outs.push_back(s);
  }
  return Status::Ok();
}

}  // namespace

Result<SubProgram> make_sub_program(const mil::Program& program, const std::string& sub_name, int64_t inline_limit) {
  if (!valid_sub_name(sub_name)) return invalid_argument("sub-program name `" + sub_name + "`: letters, digits, _ and - only");
  mil::Program p = program;
  p.text_version = "1.3";
  mil::Function* f = p.function("main");
  if (!f) return invalid_argument("the program has no `main` function");
  if (f->opset != "ios18") f->opset = "ios18";  // the ANE bundle dialect is func main<ios18>
  BlobStorageWriter blobs;
  const std::string path = weight_path_for(sub_name);
  std::vector<mil::Operation> out;
  int hoisted = 0;
  std::set<std::string> names;
  for (const auto& op : f->body.operations)
    for (const auto& o : op.outputs) names.insert(o.name);
  auto to_blob = [&](mil::Value& v) -> Status {
    if (!v.is_tensor() || v.tensor().dtype() == mil::DType::kString) return Status::Ok();
    IM_ASSIGN_OR_RETURN(uint64_t off, blobs.add(v.tensor()));
    mil::Value ref;
    ref.type = v.type;
    ref.data = mil::BlobFileRef{path, off};
    v = std::move(ref);
    return Status::Ok();
  };
  // Constants read at compile time by constexpr ops stay inline, as do integer tensors (shapes, axes):
  // the compiler needs their values, not a weight.
  std::set<std::string> constexpr_inputs;
  for (const auto& op : f->body.operations)
    if (op.type.rfind("constexpr_", 0) == 0)
      for (const auto& [k, a] : op.inputs)
        for (const auto& b : a.bindings)
          if (b.is_ref()) constexpr_inputs.insert(b.name);
  for (auto& op : f->body.operations) {
    if (op.type == "const") {
      auto& v = op.attributes.at("val");
      if (v.is_tensor() && v.tensor().numel() > 1 && mil::is_float(v.tensor().dtype()) &&
          !constexpr_inputs.count(op.outputs.at(0).name))
        IM_RETURN_IF_ERROR(to_blob(v));
      out.push_back(std::move(op));
      continue;
    }
    for (auto& [k, a] : op.inputs)
      for (auto& b : a.bindings) {
        if (b.is_ref() || !b.value->is_tensor() || b.value->tensor().numel() <= inline_limit ||
            !mil::is_float(b.value->tensor().dtype()))
          continue;
        std::string cname;
        do cname = op.name() + "_" + k + "_w" + std::to_string(hoisted++);
        while (names.count(cname));
        names.insert(cname);
        mil::Operation c;
        c.type = "const";
        mil::Value v = *b.value;
        IM_RETURN_IF_ERROR(to_blob(v));
        c.outputs = {{cname, v.type}};
        c.attributes["name"] = mil::Value::of(mil::Tensor::scalar_string(cname));
        c.attributes["val"] = std::move(v);
        out.push_back(std::move(c));
        b = mil::Binding::ref(cname);
      }
    out.push_back(std::move(op));
  }
  f->body.operations = std::move(out);
  IM_RETURN_IF_ERROR(mil::verify(p).with_context("sub-program `" + sub_name + "`"));
  SubProgram sp;
  sp.name = sub_name;
  sp.mil_text = mil::print_mil_text(p);
  if (blobs.count()) sp.weights = blobs.bytes();
  IM_RETURN_IF_ERROR(io_of(p, sp.inputs, sp.outputs).with_context("sub-program `" + sub_name + "`"));
  return sp;
}

Status write_ironml(const IronmlBundle& b, const std::string& dir) {
  if (b.sub_programs.empty()) return invalid_argument(dir + ": a bundle needs at least one sub-program");
  std::set<std::string> seen;
  for (const auto& s : b.sub_programs) {
    if (!valid_sub_name(s.name)) return invalid_argument(dir + ": sub-program name `" + s.name + "` is not a valid file name");
    if (!seen.insert(s.name).second) return invalid_argument(dir + ": duplicate sub-program `" + s.name + "`");
  }
  const fs::path final_dir(dir);
  std::random_device rd;
  const fs::path tmp = final_dir.parent_path() / (final_dir.filename().string() + ".tmp-" + std::to_string(rd()));
  std::error_code ec;
  fs::create_directories(tmp / "programs", ec);
  if (!ec) fs::create_directories(tmp / "weights", ec);
  if (ec) return io_error("cannot create " + tmp.string() + ": " + ec.message());
  auto fail = [&](Status s) {
    std::error_code ignore;
    fs::remove_all(tmp, ignore);
    return s;
  };
  json subs = json::array();
  for (const auto& s : b.sub_programs) {
    if (auto st = write_file(tmp / "programs" / (s.name + ".mil"), s.mil_text.data(), s.mil_text.size()); !st.ok()) return fail(st);
    json e = {{"name", s.name}, {"program", "programs/" + s.name + ".mil"}, {"inputs", io_json(s.inputs)}, {"outputs", io_json(s.outputs)}};
    if (!s.weights.empty()) {
      if (auto st = write_file(tmp / "weights" / (s.name + ".bin"), s.weights.data(), s.weights.size()); !st.ok()) return fail(st);
      e["weights"] = "weights/" + s.name + ".bin";
    }
    subs.push_back(e);
  }
  json m = {{"format_version", b.format_version}, {"model_type", b.model_type}, {"sub_programs", subs}};
  const std::string text = m.dump(2) + "\n";
  if (auto st = write_file(tmp / "manifest.json", text.data(), text.size()); !st.ok()) return fail(st);
  if (fs::exists(final_dir)) {
    fs::remove_all(final_dir, ec);
    if (ec) return fail(io_error("cannot replace " + dir + ": " + ec.message()));
  }
  fs::rename(tmp, final_dir, ec);
  if (ec) return fail(io_error("cannot rename " + tmp.string() + " to " + dir + ": " + ec.message()));
  return Status::Ok();
}

Status resolve_weights(mil::Program& p, const SubProgram& sub) {
  const std::string path = weight_path_for(sub.name);
  const std::string file = "weights/" + sub.name + ".bin";
  for (auto& f : p.functions)
    for (auto& op : f.body.operations) {
      auto fix = [&](mil::Value& v) -> Status {
        const auto* r = std::get_if<mil::BlobFileRef>(&v.data);
        if (!r) return Status::Ok();
        if (r->path != path)
          return invalid_argument("programs/" + sub.name + ".mil: `" + op.name() + "` references `" + r->path + "`, expected `" + path + "`");
        IM_ASSIGN_OR_RETURN(mil::Tensor t, read_blob(sub.weights, r->offset, v.type.dtype, v.type.dims, file));
        v = mil::Value::of(std::move(t));
        return Status::Ok();
      };
      for (auto& [k, v] : op.attributes) IM_RETURN_IF_ERROR(fix(v));
      for (auto& [k, a] : op.inputs)
        for (auto& b : a.bindings)
          if (!b.is_ref()) IM_RETURN_IF_ERROR(fix(*b.value));
    }
  return Status::Ok();
}

Result<IronmlBundle> read_ironml(const std::string& dir) {
  const fs::path root(dir);
  IM_ASSIGN_OR_RETURN(std::vector<uint8_t> mbytes, read_file(root / "manifest.json"));
  const std::string mfile = (root / "manifest.json").string();
  json m = json::parse(mbytes.begin(), mbytes.end(), nullptr, false);
  if (m.is_discarded() || !m.is_object()) return parse_error(mfile + ": not a JSON object");
  IronmlBundle b;
  if (!m.contains("format_version") || !m["format_version"].is_number_integer() || m["format_version"].get<int>() != 1)
    return invalid_argument(mfile + ": format_version: 1 expected");
  b.model_type = m.value("model_type", std::string());
  if (b.model_type != "simple")
    return unsupported(mfile + ": model_type `" + b.model_type + "`: only \"simple\" bundles are read (decode bundles are not implemented)");
  if (!m.contains("sub_programs") || !m["sub_programs"].is_array() || m["sub_programs"].empty())
    return invalid_argument(mfile + ": sub_programs: non-empty array expected");
  for (size_t i = 0; i < m["sub_programs"].size(); ++i) {
    const auto& e = m["sub_programs"][i];
    const std::string w = mfile + ": sub_programs[" + std::to_string(i) + "]";
    SubProgram s;
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string() || !valid_sub_name(e["name"]))
      return invalid_argument(w + ".name: a file-safe name expected");
    s.name = e["name"];
    if (e.value("program", std::string()) != "programs/" + s.name + ".mil")
      return invalid_argument(w + ".program: expected \"programs/" + s.name + ".mil\"");
    IM_ASSIGN_OR_RETURN(std::vector<uint8_t> text, read_file(root / "programs" / (s.name + ".mil")));
    s.mil_text.assign(text.begin(), text.end());
    if (e.contains("weights")) {
      if (e["weights"] != "weights/" + s.name + ".bin") return invalid_argument(w + ".weights: expected \"weights/" + s.name + ".bin\"");
      IM_ASSIGN_OR_RETURN(s.weights, read_file(root / "weights" / (s.name + ".bin")));
    }
    IM_ASSIGN_OR_RETURN(s.inputs, io_from_json(e.value("inputs", json()), w + ".inputs"));
    IM_ASSIGN_OR_RETURN(s.outputs, io_from_json(e.value("outputs", json()), w + ".outputs"));
    const std::string pfile = (root / "programs" / (s.name + ".mil")).string();
    IM_ASSIGN_OR_RETURN(mil::Program p, mil::parse_mil_text(s.mil_text, pfile));
    IM_RETURN_IF_ERROR(resolve_weights(p, s));
    IM_RETURN_IF_ERROR(mil::verify(p).with_context(pfile));
    std::vector<IoSpec> ins, outs;
    IM_RETURN_IF_ERROR(io_of(p, ins, outs).with_context(pfile));
    if (!same_io(ins, s.inputs)) return invalid_argument(w + ".inputs: do not match the inputs of " + pfile);
    if (!same_io(outs, s.outputs)) return invalid_argument(w + ".outputs: do not match the outputs of " + pfile);
    b.sub_programs.push_back(std::move(s));
  }
  return b;
}

}  // namespace ironmill::formats::bundles
