#include "formats/coreml/pipeline_manifest.h"

#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <variant>

#include "formats/mapped_file.h"

namespace ironmill::formats::coreml {
namespace {

using TomlValue = std::variant<std::string, int64_t, bool, std::vector<std::string>>;
using TomlTable = std::map<std::string, TomlValue>;

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// Strips a trailing comment that is not inside a string.
std::string strip_comment(const std::string& line) {
  bool in_str = false;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '"' && (i == 0 || line[i - 1] != '\\')) in_str = !in_str;
    if (line[i] == '#' && !in_str) return line.substr(0, i);
  }
  return line;
}

Result<std::string> parse_string(const std::string& v, const std::string& where) {
  if (v.size() < 2 || v.front() != '"' || v.back() != '"') return parse_error(where + ": string in double quotes expected");
  std::string out;
  for (size_t i = 1; i + 1 < v.size(); ++i) {
    if (v[i] == '\\' && i + 2 < v.size()) {
      char c = v[++i];
      out += c == 'n' ? '\n' : c == 't' ? '\t' : c;
    } else if (v[i] == '"') {
      return parse_error(where + ": unexpected `\"` inside a string");
    } else {
      out += v[i];
    }
  }
  return out;
}

Result<TomlValue> parse_value(const std::string& v, const std::string& where) {
  if (v.empty()) return parse_error(where + ": missing value");
  if (v[0] == '"') {
    IM_ASSIGN_OR_RETURN(std::string s, parse_string(v, where));
    return TomlValue(s);
  }
  if (v == "true" || v == "false") return TomlValue(v == "true");
  if (v[0] == '[') {
    if (v.back() != ']') return parse_error(where + ": array must close on the same line");
    std::vector<std::string> items;
    std::string inner = trim(v.substr(1, v.size() - 2));
    while (!inner.empty()) {
      if (inner[0] != '"') return parse_error(where + ": only arrays of strings are supported");
      size_t end = inner.find('"', 1);
      if (end == std::string::npos) return parse_error(where + ": unterminated string in array");
      IM_ASSIGN_OR_RETURN(std::string s, parse_string(inner.substr(0, end + 1), where));
      items.push_back(s);
      inner = trim(inner.substr(end + 1));
      if (!inner.empty()) {
        if (inner[0] != ',') return parse_error(where + ": `,` expected between array items");
        inner = trim(inner.substr(1));
      }
    }
    return TomlValue(items);
  }
  char* endp = nullptr;
  long long n = std::strtoll(v.c_str(), &endp, 10);
  if (endp && *endp == '\0') return TomlValue(static_cast<int64_t>(n));
  return parse_error(where + ": unsupported value `" + v + "` (strings, integers, booleans, string arrays)");
}

}  // namespace

Result<PipelineManifest> parse_pipeline_manifest(const std::string& text, const std::string& path) {
  TomlTable pipeline;
  std::vector<std::pair<int, TomlTable>> stages;  // (line, table)
  TomlTable* cur = nullptr;
  std::istringstream in(text);
  std::string raw;
  int lineno = 0;
  while (std::getline(in, raw)) {
    ++lineno;
    const std::string where = path + ":" + std::to_string(lineno);
    std::string line = trim(strip_comment(raw));
    if (line.empty()) continue;
    if (line == "[pipeline]") { cur = &pipeline; continue; }
    if (line == "[[stages]]") { stages.push_back({lineno, {}}); cur = &stages.back().second; continue; }
    if (line[0] == '[') return parse_error(where + ": unknown table " + line + " (expected [pipeline] or [[stages]])");
    size_t eq = line.find('=');
    if (eq == std::string::npos) return parse_error(where + ": `key = value` expected");
    if (!cur) return parse_error(where + ": key outside [pipeline] / [[stages]]");
    std::string key = trim(line.substr(0, eq));
    IM_ASSIGN_OR_RETURN(TomlValue v, parse_value(trim(line.substr(eq + 1)), where));
    if (cur->count(key)) return parse_error(where + ": duplicate key `" + key + "`");
    (*cur)[key] = std::move(v);
  }
  PipelineManifest m;
  auto str = [&](const TomlTable& t, const std::string& k, const std::string& where, bool required,
                 std::string* out) -> Status {
    auto it = t.find(k);
    if (it == t.end()) return required ? parse_error(where + ": missing `" + k + "`") : Status::Ok();
    if (!std::holds_alternative<std::string>(it->second)) return parse_error(where + ": `" + k + "` must be a string");
    *out = std::get<std::string>(it->second);
    return Status::Ok();
  };
  IM_RETURN_IF_ERROR(str(pipeline, "name", path + ": [pipeline]", true, &m.name));
  if (stages.empty()) return parse_error(path + ": no [[stages]]");
  const std::filesystem::path base = std::filesystem::path(path).parent_path();
  static const std::set<std::string> kKnown = {"name", "onnx", "safetensors", "gguf", "component", "quantize",
                                               "cal_data", "palettize", "no_fusion", "depends_on",
                                               "layers", "lm_head_parts", "seq_len"};
  auto integer = [&](const TomlTable& t, const std::string& k, const std::string& where, int64_t* out) -> Status {
    auto it = t.find(k);
    if (it == t.end()) return Status::Ok();
    if (!std::holds_alternative<int64_t>(it->second) || std::get<int64_t>(it->second) <= 0)
      return parse_error(where + ": `" + k + "` must be a positive integer");
    *out = std::get<int64_t>(it->second);
    return Status::Ok();
  };
  int64_t pipeline_seq_len = 0;
  IM_RETURN_IF_ERROR(integer(pipeline, "seq_len", path + ": [pipeline]", &pipeline_seq_len));
  std::vector<PipelineStage> parsed;
  for (const auto& [line, t] : stages) {
    const std::string where = path + ":" + std::to_string(line) + ": [[stages]]";
    for (const auto& [k, v] : t)
      if (!kKnown.count(k)) return parse_error(where + ": unknown key `" + k + "`");
    PipelineStage s;
    IM_RETURN_IF_ERROR(str(t, "name", where, true, &s.name));
    int sources = 0;
    for (const char* k : {"onnx", "safetensors", "gguf"}) {
      std::string v;
      IM_RETURN_IF_ERROR(str(t, k, where, false, &v));
      if (!v.empty()) { ++sources; s.source = (base / v).string(); s.source_kind = k; }
    }
    if (sources != 1) return parse_error(where + " `" + s.name + "`: exactly one of onnx / safetensors / gguf expected");
    IM_RETURN_IF_ERROR(str(t, "component", where, false, &s.component));
    if (s.component != "full" && s.component != "embeddings" && s.component != "transformer" && s.component != "lm_head")
      return parse_error(where + ": component `" + s.component + "` is not full, embeddings, transformer or lm_head");
    IM_RETURN_IF_ERROR(str(t, "quantize", where, false, &s.quantize));
    s.seq_len = pipeline_seq_len;
    IM_RETURN_IF_ERROR(integer(t, "seq_len", where, &s.seq_len));
    IM_RETURN_IF_ERROR(integer(t, "lm_head_parts", where, &s.lm_head_parts));
    std::string layers;
    IM_RETURN_IF_ERROR(str(t, "layers", where, false, &layers));
    if (!layers.empty()) {
      long long a = -1, b = -1;
      char dash = 0, extra = 0;
      const int n = std::sscanf(layers.c_str(), "%lld %c %lld %c", &a, &dash, &b, &extra);
      if (n == 1) b = a;
      else if (n != 3 || dash != '-') return parse_error(where + ": `layers` = \"" + layers + "\": expected \"A-B\" or \"A\"");
      if (a < 0 || b < a) return parse_error(where + ": `layers` = \"" + layers + "\": empty or negative range");
      s.first_layer = a;
      s.last_layer = b;
    }
    if (auto it = t.find("depends_on"); it != t.end()) {
      if (!std::holds_alternative<std::vector<std::string>>(it->second))
        return parse_error(where + ": `depends_on` must be an array of stage names");
      s.depends_on = std::get<std::vector<std::string>>(it->second);
    }
    for (const auto& p : parsed)
      if (p.name == s.name) return parse_error(where + ": duplicate stage name `" + s.name + "`");
    parsed.push_back(std::move(s));
  }
  // Topological order (stable: manifest order among ready stages); cycles and unknown names are errors.
  std::set<std::string> names, done;
  for (const auto& s : parsed) names.insert(s.name);
  for (const auto& s : parsed)
    for (const auto& d : s.depends_on)
      if (!names.count(d)) return parse_error(path + ": stage `" + s.name + "` depends on unknown stage `" + d + "`");
  while (m.stages.size() < parsed.size()) {
    bool progressed = false;
    for (const auto& s : parsed) {
      if (done.count(s.name)) continue;
      bool ready = true;
      for (const auto& d : s.depends_on) ready = ready && done.count(d);
      if (!ready) continue;
      m.stages.push_back(s);
      done.insert(s.name);
      progressed = true;
    }
    if (!progressed) return parse_error(path + ": stages depend on each other in a cycle");
  }
  return m;
}

Result<PipelineManifest> load_pipeline_manifest(const std::string& path) {
  IM_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  return parse_pipeline_manifest(text, path);
}

std::string pipeline_json(const std::string& name, const std::vector<BuiltStage>& stages) {
  using json = nlohmann::json;
  auto io = [](const std::vector<StageIo>& v) {
    json a = json::array();
    for (const auto& x : v) {
      json shape = json::array();
      for (int64_t d : x.type.dims) shape.push_back(d >= 0 ? json(d) : json(nullptr));
      a.push_back({{"name", x.name}, {"scalar_type", std::string(mil::dtype_name(x.type.dtype))}, {"shape", shape}});
    }
    return a;
  };
  json st = json::array();
  for (const auto& s : stages)
    st.push_back({{"name", s.name}, {"package", s.package}, {"inputs", io(s.inputs)}, {"outputs", io(s.outputs)},
                  {"depends_on", s.depends_on}});
  return json{{"name", name}, {"stages", st}}.dump(2) + "\n";
}

}  // namespace ironmill::formats::coreml
