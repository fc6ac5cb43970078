#include "backends/coreml/multi_component.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "backends/coreml/coreml_backend.h"
#include "formats/mapped_file.h"
#include "mil/builder.h"

namespace ironmill::backends::coreml {
namespace fs = std::filesystem;
using json = nlohmann::json;
using mil::Tensor;

Result<MultiComponentConfig> load_component_config(const std::string& path) {
  IM_ASSIGN_OR_RETURN(std::string text, formats::read_text_file(path));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return parse_error(path + ": not a JSON object");
  if (j.value("schema", std::string()) != "ironmill.coreml-components/1")
    return parse_error(path + ": `schema` must be \"ironmill.coreml-components/1\"");
  if (!j.contains("components") || !j["components"].is_array() || j["components"].empty())
    return parse_error(path + ": `components` must be a non-empty array");
  MultiComponentConfig cfg;
  const fs::path base = fs::path(path).parent_path();
  for (size_t i = 0; i < j["components"].size(); ++i) {
    const json& c = j["components"][i];
    const std::string where = path + ": components[" + std::to_string(i) + "]";
    ComponentSpec s;
    for (const char* k : {"name", "role", "package"})
      if (!c.contains(k) || !c[k].is_string()) return parse_error(where + ": missing string `" + k + "`");
    s.name = c["name"];
    s.role = c["role"];
    if (s.role != "embeddings" && s.role != "transformer" && s.role != "lm_head")
      return parse_error(where + ".role: `" + s.role + "` is not embeddings, transformer or lm_head");
    s.package = (base / c["package"].get<std::string>()).string();
    s.function = c.value("function", std::string());
    for (const char* k : {"inputs", "outputs"}) {
      if (!c.contains(k)) continue;
      if (!c[k].is_object()) return parse_error(where + "." + k + ": object of name -> shape expected");
      for (const auto& [n, sh] : c[k].items()) {
        if (!sh.is_array()) return parse_error(where + "." + k + "." + n + ": shape array expected");
        mil::Shape shape;
        for (const auto& d : sh) {
          if (!d.is_number_integer()) return parse_error(where + "." + k + "." + n + ": integer dims expected");
          shape.push_back(d.get<int64_t>());
        }
        (std::string(k) == "inputs" ? s.inputs : s.outputs)[n] = shape;
      }
    }
    cfg.components.push_back(std::move(s));
  }
  return cfg;
}

Status write_component_config(const std::string& path, const MultiComponentConfig& config) {
  json comps = json::array();
  const fs::path base = fs::path(path).parent_path();
  for (const auto& c : config.components) {
    json j{{"name", c.name}, {"role", c.role}, {"package", fs::relative(c.package, base.empty() ? "." : base).string()}};
    if (!c.function.empty()) j["function"] = c.function;
    json in = json::object(), out = json::object();
    for (const auto& [n, s] : c.inputs) in[n] = s;
    for (const auto& [n, s] : c.outputs) out[n] = s;
    j["inputs"] = in;
    j["outputs"] = out;
    comps.push_back(j);
  }
  const std::string text = json{{"schema", "ironmill.coreml-components/1"}, {"components", comps}}.dump(2) + "\n";
  IM_ASSIGN_OR_RETURN(auto w, formats::AtomicFileWriter::open(path));
  IM_RETURN_IF_ERROR(w->write(text.data(), text.size()));
  return w->commit();
}

Result<std::unique_ptr<MultiComponentModel>> MultiComponentModel::open(const std::string& config_path) {
  IM_ASSIGN_OR_RETURN(MultiComponentConfig cfg, load_component_config(config_path));
  auto m = std::unique_ptr<MultiComponentModel>(new MultiComponentModel());
  for (auto& c : cfg.components) {
    auto exe = load_package(c.package, c.function);
    if (!exe.ok()) return exe.status().with_context(config_path + ": component `" + c.name + "`");
    m->components_.push_back({std::move(c), std::move(*exe)});
  }
  return m;
}

Result<NamedValues> MultiComponentModel::run(const NamedValues& inputs) {
  NamedValues values = inputs;
  for (auto& c : components_) {
    NamedValues in;
    for (const auto& [n, shape] : c.spec.inputs) {
      auto it = values.find(n);
      if (it == values.end())
        return invalid_argument("component `" + c.spec.name + "` needs `" + n + "`, which no input or earlier component provides");
      const auto* t = std::get_if<Tensor>(&it->second);
      if (t && t->shape() != shape)
        return invalid_argument("component `" + c.spec.name + "` input `" + n + "`: shape " +
                                mil::shape_to_string(t->shape()) + ", the config declares " + mil::shape_to_string(shape));
      in[n] = it->second;
    }
    auto out = c.exe->run(in);
    if (!out.ok()) return out.status().with_context("component `" + c.spec.name + "`");
    for (const auto& [n, shape] : c.spec.outputs) {
      auto it = out->find(n);
      if (it == out->end()) return internal_error("component `" + c.spec.name + "` did not produce `" + n + "`");
      const auto* t = std::get_if<Tensor>(&it->second);
      if (t && t->shape() != shape)
        return invalid_argument("component `" + c.spec.name + "` output `" + n + "`: shape " +
                                mil::shape_to_string(t->shape()) + ", the config declares " + mil::shape_to_string(shape));
    }
    for (auto& [n, v] : *out) values[n] = std::move(v);
  }
  if (!values.count("logits") && values.count("logits1")) {
    IM_ASSIGN_OR_RETURN(Tensor l, stitch_logits(values));
    values["logits"] = std::move(l);
  }
  return values;
}

Result<mil::Program> split_lm_head_program(const mil::Type& hidden_type, const Tensor& weight, int parts,
                                           const std::string& opset) {
  if (weight.rank() != 2) return invalid_argument("LM head weight must be [vocab, hidden], got " + mil::shape_to_string(weight.shape()));
  const int64_t vocab = weight.dim(0), d = weight.dim(1);
  if (parts < 1 || parts > vocab) return invalid_argument("cannot split a vocabulary of " + std::to_string(vocab) + " into " + std::to_string(parts));
  mil::Program p;
  mil::Builder b(p, "main", opset);
  auto h = b.input("hidden", hidden_type);
  const size_t esz = static_cast<size_t>(mil::dtype_element_bytes(weight.dtype()));
  int64_t start = 0;
  for (int i = 0; i < parts; ++i) {
    const int64_t rows = vocab / parts + (i < vocab % parts ? 1 : 0);
    Tensor slice(weight.dtype(), {rows, d});
    std::memcpy(slice.mutable_raw(), weight.raw() + static_cast<size_t>(start * d) * esz, static_cast<size_t>(rows * d) * esz);
    start += rows;
    b.output(b.op("linear", {{"x", h}, {"weight", slice}}));
  }
  IM_RETURN_IF_ERROR(b.finish());
  // Name the outputs the way Core ML clients expect (logits1..N); nothing else refers to them.
  mil::Function& f = p.functions.back();
  for (int i = 0; i < parts; ++i) {
    const std::string name = parts == 1 ? "logits" : "logits" + std::to_string(i + 1);
    for (auto& op : f.body.operations)
      if (!op.outputs.empty() && op.outputs[0].name == f.body.outputs[i]) op.outputs[0].name = name;
    f.body.outputs[i] = name;
  }
  return p;
}

Result<Tensor> stitch_logits(const NamedValues& outputs) {
  std::vector<const Tensor*> parts;
  for (int i = 1;; ++i) {
    auto it = outputs.find("logits" + std::to_string(i));
    if (it == outputs.end()) break;
    const auto* t = std::get_if<Tensor>(&it->second);
    if (!t) return invalid_argument("logits" + std::to_string(i) + " is not a tensor");
    parts.push_back(t);
  }
  if (parts.empty()) return not_found("no logits1..N outputs to stitch");
  const Tensor& first = *parts[0];
  mil::Shape shape = first.shape();
  if (shape.empty()) return invalid_argument("logits1 is a scalar");
  int64_t total = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const auto& s = parts[i]->shape();
    if (s.size() != shape.size() || !std::equal(s.begin(), s.end() - 1, shape.begin()) || parts[i]->dtype() != first.dtype())
      return invalid_argument("logits" + std::to_string(i + 1) + " has shape " + mil::shape_to_string(s) + ", incompatible with logits1 " +
                              mil::shape_to_string(shape));
    total += s.back();
  }
  shape.back() = total;
  Tensor out(first.dtype(), shape);
  const size_t esz = static_cast<size_t>(mil::dtype_element_bytes(first.dtype()));
  const int64_t outer = first.numel() / first.shape().back();
  uint8_t* dst = out.mutable_raw();
  for (int64_t r = 0; r < outer; ++r)
    for (const Tensor* p : parts) {
      const size_t n = static_cast<size_t>(p->shape().back()) * esz;
      std::memcpy(dst, p->raw() + static_cast<size_t>(r) * n, n);
      dst += n;
    }
  return out;
}

}  // namespace ironmill::backends::coreml
