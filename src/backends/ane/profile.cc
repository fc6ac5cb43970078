#include "backends/ane/profile.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "mil/op_registry.h"

#ifndef IRONMILL_ANE_PROFILE_DIR
#define IRONMILL_ANE_PROFILE_DIR "src/backends/ane/profiles"
#endif

namespace ironmill::backends::ane {
using json = nlohmann::json;

const char* op_status_name(OpStatus s) {
  switch (s) {
    case OpStatus::kEval: return "eval";
    case OpStatus::kCompile: return "compile";
    case OpStatus::kIntermediate: return "intermediate";
    case OpStatus::kRejected: return "rejected";
  }
  return "?";
}
std::optional<OpStatus> op_status_from_name(const std::string& s) {
  if (s == "eval") return OpStatus::kEval;
  if (s == "compile") return OpStatus::kCompile;
  if (s == "intermediate") return OpStatus::kIntermediate;
  if (s == "rejected") return OpStatus::kRejected;
  return std::nullopt;
}

const OpRule& AneProfile::op_rule(const std::string& op) const {
  auto it = ops.find(op);
  return it == ops.end() ? default_rule : it->second;
}
const CastRule* AneProfile::cast_rule(mil::DType from, mil::DType to) const {
  for (const auto& c : casts)
    if (c.from == from && c.to == to) return &c;
  return nullptr;
}
int64_t AneProfile::limit(const std::string& key, int64_t fallback) const {
  auto it = limits.find(key);
  return it == limits.end() ? fallback : it->second.value;
}
std::string AneProfile::cite(const std::string& key) const {
  auto it = sources.find(key);
  return it == sources.end() ? key : key + ": " + it->second;
}

std::string profile_dir() {
  if (const char* e = std::getenv("IRONMILL_ANE_PROFILES"); e && *e) return e;
  return IRONMILL_ANE_PROFILE_DIR;
}

std::vector<std::string> profile_names() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(profile_dir(), ec))
    if (e.path().extension() == ".json") out.push_back(e.path().stem().string());
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

// Reads fields with errors that name the file and the JSON path.
class Reader {
 public:
  Reader(std::string file, AneProfile& p) : file_(std::move(file)), p_(p) {}
  Status err(const std::string& where, const std::string& what) const {
    return invalid_argument(file_ + ": " + where + ": " + what);
  }
  Status info(const json& j, const std::string& where, RuleInfo& r) {
    if (!j.is_object()) return err(where, "object expected");
    if (!j.contains("source") || !j["source"].is_string() || j["source"].get<std::string>().empty())
      return err(where + ".source", "every rule needs a source");
    r.source = j["source"];
    if (!p_.sources.count(r.source)) return err(where + ".source", "unknown source key `" + r.source + "`");
    r.note = j.value("note", std::string());
    r.disagreement = j.value("disagreement", std::string());
    return Status::Ok();
  }
  Status op_name(const std::string& op, const std::string& where) const {
    if (!mil::OpRegistry::get().find(op)) return err(where, "`" + op + "` is not a registered MIL op");
    return Status::Ok();
  }
  Result<mil::DType> dtype(const json& j, const std::string& where) const {
    if (!j.is_string()) return err(where, "dtype name expected");
    auto d = mil::dtype_from_name(j.get<std::string>());
    if (!d) return err(where, "unknown dtype `" + j.get<std::string>() + "`");
    return *d;
  }
  Result<OpStatus> status(const json& j, const std::string& where) const {
    if (!j.is_string()) return err(where, "status expected (eval|compile|intermediate|rejected)");
    auto s = op_status_from_name(j.get<std::string>());
    if (!s) return err(where, "unknown status `" + j.get<std::string>() + "` (eval|compile|intermediate|rejected)");
    return *s;
  }

 private:
  std::string file_;
  AneProfile& p_;
};

}  // namespace

Result<AneProfile> parse_profile(const std::string& text, const std::string& filename, const AneProfile* parent) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return parse_error(filename + ": not valid JSON");
  if (!j.is_object()) return invalid_argument(filename + ": top level must be an object");
  if (j.value("schema", std::string()) != "ironmill.ane-profile/1")
    return invalid_argument(filename + ": schema: expected \"ironmill.ane-profile/1\"");
  AneProfile p = parent ? *parent : AneProfile{};
  p.path = filename;
  Reader rd(filename, p);
  if (!j.contains("name") || !j["name"].is_string()) return rd.err("name", "string expected");
  p.name = j["name"];
  p.chip = j.value("chip", std::string());
  p.inherits = j.value("inherits", std::string());
  p.inherit_note = j.value("inherit_note", std::string());
  if (j.contains("sources")) {
    if (!j["sources"].is_object()) return rd.err("sources", "object expected");
    for (auto& [k, v] : j["sources"].items()) {
      if (!v.is_string() || v.get<std::string>().empty()) return rd.err("sources." + k, "citation text expected");
      p.sources[k] = v;
    }
  }
  if (p.sources.empty()) return rd.err("sources", "a profile needs at least one source");
  if (j.contains("default_rule")) {
    const auto& d = j["default_rule"];
    IM_RETURN_IF_ERROR(rd.info(d, "default_rule", p.default_rule));
    IM_ASSIGN_OR_RETURN(p.default_rule.status, rd.status(d.value("status", json()), "default_rule.status"));
    p.default_rule.note = d.value("why", p.default_rule.note);
  } else if (!parent) {
    return rd.err("default_rule", "required (verdict for ops the profile does not list)");
  }
  if (j.contains("ops")) {
    if (!j["ops"].is_array()) return rd.err("ops", "array expected");
    for (size_t i = 0; i < j["ops"].size(); ++i) {
      const auto& o = j["ops"][i];
      const std::string where = "ops[" + std::to_string(i) + "]";
      OpRule r;
      IM_RETURN_IF_ERROR(rd.info(o, where, r));
      if (!o.contains("op") || !o["op"].is_string()) return rd.err(where + ".op", "op name expected");
      r.op = o["op"];
      IM_RETURN_IF_ERROR(rd.op_name(r.op, where + ".op"));
      IM_ASSIGN_OR_RETURN(r.status, rd.status(o.value("status", json()), where + ".status"));
      if (o.contains("max_err")) {
        if (!o["max_err"].is_number()) return rd.err(where + ".max_err", "number expected");
        r.max_err = o["max_err"].get<double>();
      }
      r.workaround = o.value("workaround", std::string());
      p.ops[r.op] = r;
    }
  }
  auto input_rules = [&](const char* key, std::vector<InputRule>& out) -> Status {
    if (!j.contains(key)) return Status::Ok();
    if (!j[key].is_array()) return rd.err(key, "array expected");
    out.clear();
    for (size_t i = 0; i < j[key].size(); ++i) {
      const auto& o = j[key][i];
      const std::string where = std::string(key) + "[" + std::to_string(i) + "]";
      InputRule r;
      IM_RETURN_IF_ERROR(rd.info(o, where, r));
      r.op = o.value("op", std::string());
      r.input = o.value("input", std::string());
      r.scalar = o.value("scalar", false);
      IM_RETURN_IF_ERROR(rd.op_name(r.op, where + ".op"));
      const mil::OpSchema* s = mil::OpRegistry::get().find(r.op);
      bool known = false;
      for (const auto& v : s->variants)
        if (v.input(r.input)) known = true;
      if (!known) return rd.err(where + ".input", "`" + r.op + "` has no input `" + r.input + "`");
      out.push_back(r);
    }
    return Status::Ok();
  };
  IM_RETURN_IF_ERROR(input_rules("required_inputs", p.required_inputs));
  IM_RETURN_IF_ERROR(input_rules("const_inputs", p.const_inputs));
  if (j.contains("pad_modes")) {
    IM_RETURN_IF_ERROR(rd.info(j["pad_modes"], "pad_modes", p.pad_modes_rule));
    p.pad_modes = j["pad_modes"].value("allowed", std::vector<std::string>{});
  }
  if (j.contains("dtypes")) {
    if (!j["dtypes"].is_object()) return rd.err("dtypes", "object expected");
    for (auto& [k, v] : j["dtypes"].items()) {
      const std::string where = "dtypes." + k;
      DtypeRule r;
      IM_RETURN_IF_ERROR(rd.info(v, where, r));
      for (const char* list : {"allowed", "rejected"}) {
        if (!v.contains(list)) continue;
        for (size_t i = 0; i < v[list].size(); ++i) {
          IM_ASSIGN_OR_RETURN(mil::DType d, rd.dtype(v[list][i], where + "." + list + "[" + std::to_string(i) + "]"));
          r.dtypes.push_back(d);
        }
      }
      if (v.contains("dtype")) {
        IM_ASSIGN_OR_RETURN(mil::DType d, rd.dtype(v["dtype"], where + ".dtype"));
        r.dtypes.push_back(d);
      }
      if (v.contains("ops"))
        for (size_t i = 0; i < v["ops"].size(); ++i) {
          std::string op = v["ops"][i].get<std::string>();
          IM_RETURN_IF_ERROR(rd.op_name(op, where + ".ops[" + std::to_string(i) + "]"));
          r.ops.push_back(op);
        }
      p.dtypes[k] = r;
    }
  }
  if (j.contains("cast_paths")) {
    p.casts.clear();
    for (size_t i = 0; i < j["cast_paths"].size(); ++i) {
      const auto& o = j["cast_paths"][i];
      const std::string where = "cast_paths[" + std::to_string(i) + "]";
      CastRule r;
      IM_RETURN_IF_ERROR(rd.info(o, where, r));
      IM_ASSIGN_OR_RETURN(r.from, rd.dtype(o.value("from", json()), where + ".from"));
      IM_ASSIGN_OR_RETURN(r.to, rd.dtype(o.value("to", json()), where + ".to"));
      IM_ASSIGN_OR_RETURN(r.status, rd.status(o.value("status", json()), where + ".status"));
      p.casts.push_back(r);
    }
  }
  if (j.contains("limits")) {
    if (!j["limits"].is_object()) return rd.err("limits", "object expected");
    for (auto& [k, v] : j["limits"].items()) {
      const std::string where = "limits." + k;
      Limit l;
      IM_RETURN_IF_ERROR(rd.info(v, where, l));
      for (auto& [fk, fv] : v.items()) {
        if (fk == "value") {
          if (!fv.is_number()) return rd.err(where + ".value", "number expected");
          l.value = fv.get<int64_t>();
        } else if (fv.is_number_integer()) {
          l.extra[fk] = fv.get<int64_t>();
        }
      }
      if (!v.contains("value") && l.extra.empty()) return rd.err(where, "a limit needs a value");
      p.limits[k] = l;
    }
  }
  if (j.contains("program_rules")) {
    for (auto& [k, v] : j["program_rules"].items()) {
      RuleInfo r;
      IM_RETURN_IF_ERROR(rd.info(v, "program_rules." + k, r));
      p.program_rules[k] = r;
    }
  }
  if (j.contains("warnings")) {
    for (size_t i = 0; i < j["warnings"].size(); ++i) {
      const auto& o = j["warnings"][i];
      const std::string where = "warnings[" + std::to_string(i) + "]";
      WarningRule w;
      IM_RETURN_IF_ERROR(rd.info(o, where, w));
      w.rule = o.value("rule", std::string());
      w.op = o.value("op", std::string());
      IM_RETURN_IF_ERROR(rd.op_name(w.op, where + ".op"));
      p.warnings.push_back(w);
    }
  }
  return p;
}

namespace {
Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot open ANE profile " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
Result<AneProfile> load_with_depth(const std::string& path, int depth) {
  if (depth > 4) return invalid_argument(path + ": inherits: chain deeper than 4 (a cycle?)");
  IM_ASSIGN_OR_RETURN(std::string text, read_text(path));
  json j = json::parse(text, nullptr, false);
  std::optional<AneProfile> parent;
  if (!j.is_discarded() && j.is_object() && j.contains("inherits") && j["inherits"].is_string()) {
    const std::string pname = j["inherits"];
    auto pp = load_with_depth(
        (std::filesystem::path(path).parent_path() / (pname + ".json")).string(), depth + 1);
    if (!pp.ok()) return pp.status().with_context(path + ": inherits `" + pname + "`");
    parent = std::move(*pp);
  }
  return parse_profile(text, path, parent ? &*parent : nullptr);
}
}  // namespace

Result<AneProfile> load_profile_file(const std::string& path) { return load_with_depth(path, 0); }

Result<AneProfile> load_profile(const std::string& name) {
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'))
      return invalid_argument("ANE profile name `" + name + "`: letters, digits, _ and - only");
  const std::string path = profile_dir() + "/" + name + ".json";
  if (!std::filesystem::exists(path)) {
    std::string avail;
    for (const auto& n : profile_names()) avail += (avail.empty() ? "" : ", ") + n;
    return not_found("no ANE profile `" + name + "` in " + profile_dir() + " (available: " + avail + ")");
  }
  return load_profile_file(path);
}

}  // namespace ironmill::backends::ane
