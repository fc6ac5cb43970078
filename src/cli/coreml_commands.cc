// `ironmill compile` (ONNX -> .mlpackage / .mlmodel) and `ironmill inspect` for Core ML models.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "backends/coreml/llm/llm_components.h"
#include "backends/coreml/llm/llm_package.h"
#include "backends/coreml/multi_component.h"
#include "formats/coreml/mlpackage.h"
#include "formats/coreml/model_writer.h"
#include "formats/coreml/pipeline_manifest.h"
#include "formats/mapped_file.h"
#include "formats/onnx/onnx_model.h"
#include "frontends/coreml/coreml_import.h"
#include "frontends/onnx/onnx_importer.h"
#include "mil/text.h"
#include "mil/verifier.h"

namespace {
namespace fs = std::filesystem;
namespace fc = ironmill::formats::coreml;
namespace pb = CoreML::Specification;
using json = nlohmann::json;

const char* kCompileUsage =
    "usage: ironmill compile INPUT.onnx [--runtime coreml] [-o OUT.mlpackage|OUT.mlmodel] [--spec ios15|ios16|ios17|ios18]\n"
    "       ironmill compile MODEL_DIR|MODEL.gguf [-o OUT.mlpackage] [--spec ios15..ios18] [--precision fp32|fp16]\n"
    "                        [--seq-len T] [--context C] [--hidden-states] [--stateful]\n"
    "  Converts an ONNX model, or a Hugging Face checkpoint (config.json + SafeTensors) / GGUF file through the\n"
    "  architecture templates, to a Core ML ML Program. Default output: INPUT with .mlpackage; default spec:\n"
    "  ios18. A .mlmodel output holds every weight inline (no weight.bin).\n"
    "  Template models: function `prefill` (input_ids int32 [T] -> logits [T, V] and the filled KV cache) and\n"
    "  `decode` (token, position, cache [.., C, ..] -> logits [1, V], cache out) in one multi-function package\n"
    "  sharing weights; T defaults to 64, C to 256 (ios18) or 0 (older specs: prefill only, no cache).\n"
    "  --precision fp16 stores weights and computes in fp16 (needs ios16+). --stateful keeps the KV cache in\n"
    "  Core ML states (read_state/write_state; fp16 only, so with --precision fp16).\n";

bool ends_with(const std::string& s, const std::string& t) {
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

std::string array_dtype_name(int dt) {
  switch (dt) {
    case pb::ArrayFeatureType::FLOAT32: return "fp32";
    case pb::ArrayFeatureType::FLOAT16: return "fp16";
    case pb::ArrayFeatureType::DOUBLE: return "fp64";
    case pb::ArrayFeatureType::INT32: return "int32";
    case pb::ArrayFeatureType::INT8: return "int8";
    default: return "invalid(" + std::to_string(dt) + ")";
  }
}

json feature_json(const pb::FeatureDescription& f) {
  json j{{"name", f.name()}};
  if (!f.shortdescription().empty()) j["description"] = f.shortdescription();
  const pb::ArrayFeatureType* a = nullptr;
  if (f.type().has_multiarraytype()) { a = &f.type().multiarraytype(); j["kind"] = "multiArray"; }
  else if (f.type().has_statetype()) { a = &f.type().statetype().arraytype(); j["kind"] = "state"; }
  else j["kind"] = "other(" + std::to_string(f.type().Type_case()) + ")";
  if (a) {
    j["dtype"] = array_dtype_name(a->datatype());
    j["shape"] = std::vector<int64_t>(a->shape().begin(), a->shape().end());
    if (a->has_shaperange()) {
      json r = json::array();
      for (const auto& s : a->shaperange().sizeranges()) r.push_back({s.lowerbound(), s.upperbound()});
      j["shape_range"] = r;
    }
    if (a->has_enumeratedshapes()) {
      json e = json::array();
      for (const auto& s : a->enumeratedshapes().shapes()) e.push_back(std::vector<int64_t>(s.shape().begin(), s.shape().end()));
      j["enumerated_shapes"] = e;
    }
  }
  return j;
}

void count_ops(const ironmill::mil::Block& b, std::map<std::string, int>& hist) {
  for (const auto& op : b.operations) {
    ++hist[op.type];
    for (const auto& nb : op.blocks) count_ops(nb, hist);
  }
}

// ONNX file -> verified MIL program in opset `spec`.
ironmill::Result<ironmill::mil::Program> onnx_to_program(const std::string& input, const std::string& spec) {
  auto model = ironmill::formats::onnx::load_model(input);
  if (!model.ok()) return model.status();
  ironmill::frontends::onnx::ImportOptions io;
  io.opset = spec;
  auto imported = ironmill::frontends::onnx::import_model(*model, io);
  if (!imported.ok()) return imported.status().with_context(input);
  if (auto s = ironmill::mil::verify(imported->program); !s.ok())
    return s.with_context(input + ": converted program does not verify");
  return std::move(imported->program);
}

}  // namespace

bool is_coreml_path(const std::string& p) {
  std::string s = p;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return ends_with(s, ".mlpackage") || ends_with(s, ".mlmodel");
}

// `compile` without `--runtime`, or with `--runtime coreml`, is ours; other runtimes have their own command.
bool is_coreml_compile(const std::vector<std::string>& args) {
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == "--runtime") return args[i + 1] == "coreml";
  return true;
}

// SafeTensors directory / GGUF file -> template program -> .mlpackage.
int compile_template_model(const std::string& input, std::string output, const std::string& spec, int opset,
                           const std::string& precision, int64_t seq_len, int64_t context, bool hidden, bool stateful) {
  namespace bc = ironmill::backends::coreml;
  auto prec = bc::parse_precision(precision);
  if (!prec.ok()) { std::cerr << "ironmill compile: " << prec.status().message() << "\n"; return 2; }
  if (output.empty()) {
    std::string base = input;
    while (base.size() > 1 && base.back() == '/') base.pop_back();
    output = ends_with(base, ".gguf") ? fs::path(base).replace_extension(".mlpackage").string() : base + ".mlpackage";
  }
  if (!ends_with(output, ".mlpackage")) {
    std::cerr << "ironmill compile: -o must end in .mlpackage for SafeTensors/GGUF models\n";
    return 2;
  }
  auto model = ironmill::templates::load_model(input);
  if (!model.ok()) { std::cerr << "ironmill: " << input << ": " << model.status().message() << "\n"; return 1; }
  bc::LlmPackageOptions o;
  o.prefill_length = seq_len;
  // Default cache: 256 positions (at least T) on ios18; older specifications cannot hold two functions.
  o.max_context = context >= 0 ? context : (opset >= 18 ? std::max<int64_t>(256, seq_len) : 0);
  o.hidden_states = hidden;
  o.stateful = stateful;
  o.precision = *prec;
  o.spec_version = fc::spec_for_opset(opset);
  auto s = bc::write_llm_package(*model, o, output);
  if (!s.ok()) { std::cerr << "ironmill: " << input << ": " << s.status().message() << "\n"; return 1; }
  std::cout << output << ": specification " << s->spec_version << " (" << spec << "), " << precision << ", "
            << model->config.num_hidden_layers << " layers, vocab " << model->config.vocab_size << "; functions prefill [T="
            << o.prefill_length << "]" << (o.max_context > 0 ? ", decode [C=" + std::to_string(o.max_context) + "]" : std::string())
            << (stateful ? "; KV cache as Core ML states" : "") << "; model " << s->model_bytes.size() << " bytes, weight.bin " << (s->weights ? s->weights->size() : 0) << " bytes\n";
  return 0;
}

int cmd_coreml_compile(const std::vector<std::string>& args) {
  std::string input, output, spec = "ios18", precision = "fp32";
  int64_t seq_len = 64, context = -1;
  bool hidden = false, template_flags = false, stateful = false;
  auto number = [](const std::string& s, int64_t* out) {
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (!end || *end || v < 0) return false;
    *out = v;
    return true;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    if ((args[i] == "-o" || args[i] == "--output") && i + 1 < args.size()) output = args[++i];
    else if (args[i] == "--spec" && i + 1 < args.size()) spec = args[++i];
    else if (args[i] == "--precision" && i + 1 < args.size()) { precision = args[++i]; template_flags = true; }
    else if (args[i] == "--seq-len" && i + 1 < args.size()) {
      if (!number(args[++i], &seq_len) || seq_len == 0) { std::cerr << "ironmill compile: --seq-len needs a positive integer\n"; return 2; }
      template_flags = true;
    } else if (args[i] == "--context" && i + 1 < args.size()) {
      if (!number(args[++i], &context)) { std::cerr << "ironmill compile: --context needs a non-negative integer\n"; return 2; }
      template_flags = true;
    } else if (args[i] == "--hidden-states") { hidden = true; template_flags = true; }
    else if (args[i] == "--stateful") { stateful = true; template_flags = true; }
    else if (args[i] == "--runtime" && i + 1 < args.size()) ++i;  // coreml (is_coreml_compile checked it)
    else if (args[i] == "-h" || args[i] == "--help") { std::cout << kCompileUsage; return 0; }
    else if (input.empty() && args[i][0] != '-') input = args[i];
    else { std::cerr << "ironmill compile: unexpected argument " << args[i] << "\n" << kCompileUsage; return 2; }
  }
  auto opset = ironmill::mil::opset_version(spec);
  if (input.empty() || !opset || *opset < 15 || *opset > 18) { std::cerr << kCompileUsage; return 2; }
  if (!ends_with(input, ".onnx")) return compile_template_model(input, output, spec, *opset, precision, seq_len, context, hidden, stateful);
  if (template_flags) {
    std::cerr << "ironmill compile: --precision/--seq-len/--context/--hidden-states apply to SafeTensors/GGUF models\n";
    return 2;
  }
  if (output.empty()) output = fs::path(input).replace_extension(".mlpackage").string();
  if (!ends_with(output, ".mlpackage") && !ends_with(output, ".mlmodel")) {
    std::cerr << "ironmill compile: -o must end in .mlpackage or .mlmodel\n";
    return 2;
  }
  auto program = onnx_to_program(input, spec);
  if (!program.ok()) { std::cerr << "ironmill: " << program.status().message() << "\n"; return 1; }
  fc::WriteOptions wo;
  wo.info.spec_version = fc::spec_for_opset(*opset);
  wo.info.metadata.user_defined["com.ironmill.source"] = fs::path(input).filename().string();
  auto s = fc::serialize_model(*program, wo);
  if (!s.ok()) { std::cerr << "ironmill: " << input << ": " << s.status().message() << "\n"; return 1; }
  const size_t weight_bytes = s->weights ? s->weights->size() : 0;
  ironmill::Status st = ends_with(output, ".mlmodel") ? fc::write_mlmodel(output, *program, wo)
                                                      : fc::write_mlpackage(output, *program, wo);
  if (!st.ok()) { std::cerr << "ironmill: " << st.message() << "\n"; return 1; }
  std::cout << output << ": specification " << s->spec_version << " (" << spec << "), "
            << program->op_count() << " ops, model " << s->model_bytes.size() << " bytes"
            << (ends_with(output, ".mlmodel") ? std::string(", weights inline")
                : weight_bytes ? ", weight.bin " + std::to_string(weight_bytes) + " bytes" : std::string(", no weight.bin"))
            << "\n";
  return 0;
}

int cmd_coreml_inspect(const std::vector<std::string>& args) {
  std::string path, format = "text";
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--format" && i + 1 < args.size()) format = args[++i];
    else if (args[i] == "--json") format = "json";
    else if (path.empty()) path = args[i];
    else { std::cerr << "ironmill inspect: unexpected argument " << args[i] << "\n"; return 2; }
  }
  if (path.empty() || (format != "text" && format != "json" && format != "mil")) {
    std::cerr << "usage: ironmill inspect X.mlpackage|X.mlmodel [--format text|json|mil]\n";
    return 2;
  }
  auto m = ironmill::frontends::coreml::load_coreml(path, {.materialize_blobs = false});
  if (!m.ok()) { std::cerr << "ironmill: " << m.status().message() << "\n"; return 1; }
  if (format == "mil") { std::cout << ironmill::mil::print_mil_text(m->program); return 0; }
  const auto& d = m->proto.description();
  json j;
  j["schema"] = "ironmill.inspect-coreml/1";
  j["path"] = path;
  j["specification_version"] = m->proto.specificationversion();
  j["model_type"] = "mlProgram";
  auto list = [](const auto& fs) { json a = json::array(); for (const auto& f : fs) a.push_back(feature_json(f)); return a; };
  j["inputs"] = list(d.input());
  j["outputs"] = list(d.output());
  j["states"] = list(d.state());
  if (!d.defaultfunctionname().empty()) j["default_function"] = d.defaultfunctionname();
  json fns = json::array();
  for (const auto& f : m->program.functions) {
    std::map<std::string, int> hist;
    count_ops(f.body, hist);
    json fj{{"name", f.name}, {"opset", f.opset}, {"ops", hist}};
    json ins = json::array();
    for (const auto& in : f.inputs) ins.push_back({{"name", in.name}, {"type", ironmill::mil::type_to_string(in.type)}});
    fj["inputs"] = ins;
    fj["outputs"] = f.body.outputs;
    for (const auto& fd : d.functions())
      if (fd.name() == f.name) { fj["description_inputs"] = list(fd.input()); fj["description_outputs"] = list(fd.output()); fj["description_states"] = list(fd.state()); }
    fns.push_back(fj);
  }
  j["functions"] = fns;
  if (d.has_metadata()) {
    const auto& md = d.metadata();
    j["metadata"] = {{"short_description", md.shortdescription()}, {"version", md.versionstring()},
                     {"author", md.author()}, {"license", md.license()},
                     {"user_defined", std::map<std::string, std::string>(md.userdefined().begin(), md.userdefined().end())}};
  }
  if (m->weights) {
    auto recs = m->weights->records();
    if (!recs.ok()) { std::cerr << "ironmill: " << recs.status().message() << "\n"; return 1; }
    uint64_t bytes = 0;
    for (const auto& r : *recs) bytes += r.size;
    j["weights"] = {{"file", m->weights_path}, {"blobs", recs->size()}, {"data_bytes", bytes}};
  }
  if (format == "json") { std::cout << j.dump(2) << "\n"; return 0; }
  std::cout << path << ": Core ML ML Program, specification " << j["specification_version"] << "\n";
  auto print_features = [](const char* what, const json& a) {
    for (const auto& f : a) {
      std::cout << "  " << what << " " << f["name"].get<std::string>() << ": " << f.value("dtype", std::string("?"))
                << " " << f.value("shape", json::array()).dump();
      if (f.contains("shape_range")) std::cout << " range " << f["shape_range"].dump();
      if (f.contains("enumerated_shapes")) std::cout << " one of " << f["enumerated_shapes"].dump();
      std::cout << "\n";
    }
  };
  print_features("input", j["inputs"]);
  print_features("state", j["states"]);
  print_features("output", j["outputs"]);
  for (const auto& f : j["functions"]) {
    int n = 0;
    for (const auto& [op, c] : f["ops"].items()) n += c.get<int>();
    std::cout << "  function " << f["name"].get<std::string>() << " <" << f["opset"].get<std::string>() << ">: " << n
              << " ops\n";
    if (f.contains("description_inputs")) {
      print_features("  input", f["description_inputs"]);
      print_features("  state", f["description_states"]);
      print_features("  output", f["description_outputs"]);
    }
    for (const auto& [op, c] : f["ops"].items()) std::cout << "    " << op << " x" << c.get<int>() << "\n";
  }
  if (j.contains("weights"))
    std::cout << "  weights: " << j["weights"]["blobs"] << " blobs, " << j["weights"]["data_bytes"] << " bytes\n";
  if (j.contains("metadata")) std::cout << "  metadata: " << j["metadata"].dump() << "\n";
  return 0;
}

int cmd_compile_pipeline(const std::vector<std::string>& args) {
  const char* usage = "usage: ironmill compile-pipeline MANIFEST.toml -o DIR [--spec ios15..ios18]\n";
  std::string manifest_path, out_dir, spec = "ios18";
  for (size_t i = 0; i < args.size(); ++i) {
    if ((args[i] == "-o" || args[i] == "--output") && i + 1 < args.size()) out_dir = args[++i];
    else if (args[i] == "--spec" && i + 1 < args.size()) spec = args[++i];
    else if (manifest_path.empty() && args[i][0] != '-') manifest_path = args[i];
    else { std::cerr << "ironmill compile-pipeline: unexpected argument " << args[i] << "\n" << usage; return 2; }
  }
  auto opset = ironmill::mil::opset_version(spec);
  if (manifest_path.empty() || out_dir.empty() || !opset || *opset < 15 || *opset > 18) { std::cerr << usage; return 2; }
  auto m = fc::load_pipeline_manifest(manifest_path);
  if (!m.ok()) { std::cerr << "ironmill: " << m.status().message() << "\n"; return 1; }
  namespace bc = ironmill::backends::coreml;
  bool any_component = false;
  for (const auto& st : m->stages) {
    const bool onnx = st.source_kind == "onnx";
    if (onnx && st.component != "full") {
      std::cerr << "ironmill: " << manifest_path << ": stage `" << st.name << "`: ONNX stages are compiled whole "
                << "(component = \"full\"); embeddings/transformer/lm_head need a SafeTensors/GGUF model\n";
      return 1;
    }
    if (st.quantize != "none" && (onnx || st.quantize != "fp16")) {
      std::cerr << "ironmill: " << manifest_path << ": stage `" << st.name << "`: quantize = " << st.quantize
                << " is not implemented for Core ML packages (template stages: none or fp16)\n";
      return 1;
    }
    if (!onnx && st.seq_len <= 0) {
      std::cerr << "ironmill: " << manifest_path << ": stage `" << st.name << "`: SafeTensors/GGUF stages need "
                << "`seq_len` (in the stage or under [pipeline])\n";
      return 1;
    }
    any_component = any_component || (!onnx && st.component != "full");
  }
  std::map<std::string, ironmill::templates::LoadedModel> models;  // by source path
  auto stage_program = [&](const fc::PipelineStage& st) -> ironmill::Result<ironmill::mil::Program> {
    if (st.source_kind == "onnx") return onnx_to_program(st.source, spec);
    if (!models.count(st.source)) {
      auto lm = ironmill::templates::load_model(st.source);
      if (!lm.ok()) return lm.status().with_context(st.source);
      models.emplace(st.source, std::move(*lm));
    }
    const auto& model = models.at(st.source);
    const bc::Precision prec = st.quantize == "fp16" ? bc::Precision::kFp16 : bc::Precision::kFp32;
    if (st.component == "full") {
      bc::LlmPackageOptions o;
      o.prefill_length = st.seq_len;
      o.precision = prec;
      o.spec_version = fc::spec_for_opset(*opset);
      auto p = bc::build_llm_package_program(model, o);
      if (!p.ok()) return p.status();
      return std::move(p->program);
    }
    bc::ComponentRequest req;
    req.role = st.component;
    req.first_layer = st.first_layer;
    req.last_layer = st.last_layer;
    req.lm_head_parts = static_cast<int>(st.lm_head_parts);
    auto c = bc::build_component(model, req, st.seq_len, prec);
    if (!c.ok()) return c.status();
    IM_RETURN_IF_ERROR(bc::retarget_opset(c->program, spec));
    return std::move(c->program);
  };
  bc::MultiComponentConfig components;
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) { std::cerr << "ironmill: " << out_dir << ": " << ec.message() << "\n"; return 1; }
  std::vector<fc::BuiltStage> built;
  for (const auto& st : m->stages) {
    auto program = stage_program(st);
    if (!program.ok()) { std::cerr << "ironmill: stage `" << st.name << "`: " << program.status().message() << "\n"; return 1; }
    fc::WriteOptions wo;
    wo.info.spec_version = fc::spec_for_opset(*opset);
    wo.info.metadata.user_defined["com.ironmill.pipeline"] = m->name;
    wo.info.metadata.user_defined["com.ironmill.stage"] = st.name;
    fc::BuiltStage b;
    b.name = st.name;
    b.package = st.name + ".mlpackage";
    b.depends_on = st.depends_on;
    if (auto s = fc::write_mlpackage((fs::path(out_dir) / b.package).string(), *program, wo); !s.ok()) {
      std::cerr << "ironmill: stage `" << st.name << "`: " << s.message() << "\n";
      return 1;
    }
    const auto& f = program->functions.at(0);
    std::map<std::string, ironmill::mil::Type> types;
    for (const auto& op : f.body.operations)
      for (const auto& o : op.outputs) types[o.name] = o.type;
    for (const auto& in : f.inputs) { b.inputs.push_back({in.name, in.type}); types[in.name] = in.type; }
    for (const auto& o : f.body.outputs) b.outputs.push_back({o, types[o]});
    std::cout << (fs::path(out_dir) / b.package).string() << ": " << program->op_count() << " ops\n";
    if (any_component) {
      bc::ComponentSpec cs;
      cs.name = st.name;
      cs.role = st.component == "full" ? "transformer" : st.component;
      cs.package = (fs::path(out_dir) / b.package).string();
      for (const auto& io : b.inputs) cs.inputs[io.name] = io.type.dims;
      for (const auto& io : b.outputs) cs.outputs[io.name] = io.type.dims;
      components.components.push_back(std::move(cs));
    }
    built.push_back(std::move(b));
  }
  // Template components also get the multi-component runner's config (backends/coreml/multi_component.h).
  if (any_component) {
    const std::string cfg = (fs::path(out_dir) / "components.json").string();
    if (auto s = bc::write_component_config(cfg, components); !s.ok()) { std::cerr << "ironmill: " << s.message() << "\n"; return 1; }
    std::cout << cfg << ": " << components.components.size() << " components\n";
  }
  const std::string text = fc::pipeline_json(m->name, built);
  auto w = ironmill::formats::AtomicFileWriter::open((fs::path(out_dir) / "pipeline.json").string());
  ironmill::Status s = w.ok() ? (*w)->write(text.data(), text.size()) : w.status();
  if (s.ok()) s = (*w)->commit();
  if (!s.ok()) { std::cerr << "ironmill: " << s.message() << "\n"; return 1; }
  std::cout << (fs::path(out_dir) / "pipeline.json").string() << ": " << built.size() << " stages\n";
  return 0;
}
