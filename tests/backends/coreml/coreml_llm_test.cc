// Template models as Core ML packages (backends/coreml/llm): the multi-function prefill + decode package
// and its shared weights, fp16 weight storage, and kjv-llama-5m as a multi-component model (embeddings ->
// 2 transformer chunks -> a 2-part LM head) built from the shipped pipeline manifest. Expected values are
// Hugging Face's (golden/kjv-llama-5m/golden.safetensors, transformers fp32), never ours; the
// multi-component logits are also compared with the single package's.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "backends/coreml/coreml_backend.h"
#include "backends/coreml/llm/llm_components.h"
#include "backends/coreml/llm/llm_package.h"
#include "backends/coreml/multi_component.h"
#include "formats/coreml/milblob.h"
#include "formats/coreml/pipeline_manifest.h"
#include "formats/safetensors/safetensors.h"
#include "frontends/coreml/coreml_import.h"
#include "frontends/gguf_export/gguf_export.h"

namespace ironmill::backends::coreml {
namespace {
namespace fs = std::filesystem;
namespace fc = formats::coreml;
using mil::DType;
using mil::Tensor;

const std::string kKjv = std::string(IRONMILL_SOURCE_DIR) + "/golden/kjv-llama-5m";

struct Golden {
  std::vector<int32_t> prompt, greedy;
  std::vector<float> prompt_logits, decode_logits;
};

Golden load_golden() {
  Golden g;
  std::ifstream in(kKjv + "/golden.json");
  auto j = nlohmann::json::parse(in);
  for (auto& v : j["prompt_ids"]) g.prompt.push_back(v.get<int32_t>());
  for (auto& v : j["greedy_ids"]) g.greedy.push_back(v.get<int32_t>());
  auto f = formats::safetensors::File::open(kKjv + "/golden.safetensors");
  EXPECT_TRUE(f.ok()) << f.status().message();
  g.prompt_logits = f->tensor("prompt_logits")->to_f32();
  g.decode_logits = f->tensor("decode_logits")->to_f32();
  return g;
}

// Worst per-row cosine and max |a - e| / max |e| of `rows` rows.
std::pair<double, double> compare(const std::vector<float>& a, const std::vector<float>& e, size_t rows) {
  EXPECT_EQ(a.size(), e.size());
  if (a.size() != e.size() || rows == 0) return {0.0, 1e9};
  const size_t cols = e.size() / rows;
  double worst = 1.0, max_abs = 0, max_ref = 0;
  for (size_t r = 0; r < rows; ++r) {
    double dot = 0, na = 0, ne = 0;
    for (size_t c = 0; c < cols; ++c) {
      const double x = a[r * cols + c], y = e[r * cols + c];
      dot += x * y;
      na += x * x;
      ne += y * y;
      max_abs = std::max(max_abs, std::fabs(x - y));
      max_ref = std::max(max_ref, std::fabs(y));
    }
    worst = std::min(worst, dot / std::sqrt(na * ne));
  }
  return {worst, max_abs / max_ref};
}

std::string temp_dir(const std::string& tag) {
  auto d = fs::temp_directory_path() / ("ironmill_llm_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

Tensor ids_tensor(const std::vector<int32_t>& ids) {
  std::vector<int64_t> v(ids.begin(), ids.end());
  return Tensor::from_i64(DType::kInt32, {static_cast<int64_t>(v.size())}, v);
}

std::vector<float> output(const NamedValues& out, const std::string& name) {
  auto it = out.find(name);
  EXPECT_NE(it, out.end()) << name;
  if (it == out.end()) return {};
  return std::get<Tensor>(it->second).to_f32();
}

uint64_t file_size(const std::string& p) { return fs::file_size(p); }

TEST(CoreMLLlm, PrefillAndDecodePackageSharesWeightsAndMatchesHuggingFace) {
  const Golden g = load_golden();
  auto model = templates::load_model(kKjv);
  ASSERT_TRUE(model.ok()) << model.status().message();
  const std::string dir = temp_dir("pd");
  LlmPackageOptions o;
  o.prefill_length = static_cast<int64_t>(g.prompt.size());
  o.max_context = o.prefill_length + 4;
  const std::string both = dir + "/kjv.mlpackage", prefill_only = dir + "/kjv-prefill.mlpackage";
  auto s = write_llm_package(*model, o, both);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->spec_version, 9);  // several functions need specification 9
  LlmPackageOptions o1 = o;
  o1.max_context = 0;
  ASSERT_TRUE(write_llm_package(*model, o1, prefill_only).ok());

  auto m = frontends::coreml::load_coreml(both, {.materialize_blobs = false});
  ASSERT_TRUE(m.ok()) << m.status().message();
  ASSERT_EQ(m->program.functions.size(), 2u);
  EXPECT_EQ(m->program.functions[0].name, "prefill");
  EXPECT_EQ(m->program.functions[1].name, "decode");
  EXPECT_EQ(m->info.default_function, "prefill");
  // Shared weights: adding the decode function costs far less than a second copy of the 5.5M parameters
  // (22 MB in fp32); only the small per-shape constants (RoPE tables, masks) differ.
  const std::string wb = "/Data/com.apple.CoreML/weights/weight.bin";
  const uint64_t w2 = file_size(both + wb), w1 = file_size(prefill_only + wb);
  EXPECT_GT(w1, 5'400'000u * 4);
  EXPECT_LT(w2, w1 + w1 / 50) << "weight.bin " << w2 << " bytes with decode vs " << w1 << " prefill only";

  // Prefill read back from disk: HF's prompt logits within the fp32 gate.
  auto pre = load_package(both, "prefill");
  ASSERT_TRUE(pre.ok()) << pre.status().message();
  auto out = (*pre)->run({{"input_ids", ids_tensor(g.prompt)}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  auto [cos, rel] = compare(output(*out, "logits"), g.prompt_logits, g.prompt.size());
  EXPECT_GE(cos, 0.99999);
  EXPECT_LE(rel, 1e-4);

  // One decode step with the cache prefill filled: HF's logits after the first greedy token.
  auto dec = load_package(both, "decode");
  ASSERT_TRUE(dec.ok()) << dec.status().message();
  NamedValues in;
  for (auto& [name, v] : *out)
    if (name.size() > 4 && name.compare(name.size() - 4, 4, "_out") == 0) in[name.substr(0, name.size() - 4)] = v;
  ASSERT_FALSE(in.empty());
  in["token"] = ids_tensor({g.greedy[0]});
  in["position"] = ids_tensor({static_cast<int32_t>(g.prompt.size())});
  auto step = (*dec)->run(in);
  ASSERT_TRUE(step.ok()) << step.status().message();
  const size_t V = g.prompt_logits.size() / g.prompt.size();
  std::vector<float> ref(g.decode_logits.begin() + static_cast<int64_t>(V), g.decode_logits.begin() + static_cast<int64_t>(2 * V));
  auto [dcos, drel] = compare(output(*step, "logits"), ref, 1);
  EXPECT_GE(dcos, 0.99999);
  EXPECT_LE(drel, 1e-4);
  fs::remove_all(dir);
}

TEST(CoreMLLlm, Fp16PackageStoresFp16WeightsWithinTheFp16Gate) {
  const Golden g = load_golden();
  auto model = templates::load_model(kKjv);
  ASSERT_TRUE(model.ok()) << model.status().message();
  const std::string dir = temp_dir("fp16");
  LlmPackageOptions o;
  o.prefill_length = static_cast<int64_t>(g.prompt.size());
  o.precision = Precision::kFp16;
  const std::string path = dir + "/kjv16.mlpackage";
  auto s = write_llm_package(*model, o, path);
  ASSERT_TRUE(s.ok()) << s.status().message();
  auto m = frontends::coreml::load_coreml(path, {.materialize_blobs = false});
  ASSERT_TRUE(m.ok()) << m.status().message();
  ASSERT_TRUE(m->weights);
  auto recs = m->weights->records();
  ASSERT_TRUE(recs.ok());
  uint64_t bytes = 0;  // fp16 blob bytes; no fp32 blob may remain
  for (const auto& r : *recs) {
    const auto dt = fc::dtype_from_blob_code(r.dtype_code);
    EXPECT_NE(dt, DType::kFp32) << "blob at " << r.metadata_offset;
    if (dt == DType::kFp16) bytes += r.size;
  }
  EXPECT_GT(bytes, 5'400'000u * 2);
  EXPECT_LT(bytes, 5'600'000u * 2);
  auto exe = load_package(path);
  ASSERT_TRUE(exe.ok()) << exe.status().message();
  auto out = (*exe)->run({{"input_ids", ids_tensor(g.prompt)}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(std::get<Tensor>(out->at("logits")).dtype(), DType::kFp16);
  auto [cos, rel] = compare(output(*out, "logits"), g.prompt_logits, g.prompt.size());
  EXPECT_GE(cos, 0.999);
  fs::remove_all(dir);
}

// The shipped manifest's stages, built the way `ironmill compile-pipeline` builds them, run by the
// multi-component runner: the stitched logits1/logits2 equal the single package's logits and HF's.
TEST(CoreMLLlm, KjvMultiComponentEqualsTheSinglePackage) {
  const Golden g = load_golden();
  const std::string manifest = std::string(IRONMILL_SOURCE_DIR) + "/tests/backends/coreml/data/kjv-pipeline.toml";
  auto mf = fc::load_pipeline_manifest(manifest);
  ASSERT_TRUE(mf.ok()) << mf.status().message();
  ASSERT_EQ(mf->stages.size(), 4u);
  auto model = templates::load_model(mf->stages[0].source);
  ASSERT_TRUE(model.ok()) << model.status().message();
  const std::string dir = temp_dir("mc");
  MultiComponentConfig cfg;
  for (const auto& st : mf->stages) {
    ASSERT_EQ(st.seq_len, static_cast<int64_t>(g.prompt.size()));
    ComponentRequest req{st.component, st.first_layer, st.last_layer, static_cast<int>(st.lm_head_parts)};
    auto c = build_component(*model, req, st.seq_len, Precision::kFp32);
    ASSERT_TRUE(c.ok()) << st.name << ": " << c.status().message();
    ComponentSpec spec{st.name, st.component, dir + "/" + st.name + ".mlpackage", "", {}, {}};
    const auto& f = c->program.functions.at(0);
    for (const auto& in : f.inputs) spec.inputs[in.name] = in.type.dims;
    ASSERT_TRUE(fc::write_mlpackage(spec.package, c->program, {}).ok());
    cfg.components.push_back(spec);
  }
  // Layer cuts: hidden_0 -> chunk1 -> hidden_3 -> chunk2 -> hidden (normed) -> logits1 + logits2.
  EXPECT_EQ(cfg.components[1].inputs.begin()->first, "hidden_0");
  EXPECT_EQ(cfg.components[2].inputs.begin()->first, "hidden_3");
  EXPECT_EQ(cfg.components[3].inputs.begin()->first, "hidden");
  const int64_t T = static_cast<int64_t>(g.prompt.size());
  cfg.components[0].outputs["hidden_0"] = {T, 256};
  cfg.components[1].outputs["hidden_3"] = {T, 256};
  cfg.components[2].outputs["hidden"] = {T, 256};
  cfg.components[3].outputs["logits1"] = {T, 1024};
  cfg.components[3].outputs["logits2"] = {T, 1024};
  ASSERT_TRUE(write_component_config(dir + "/components.json", cfg).ok());
  auto mc = MultiComponentModel::open(dir + "/components.json");
  ASSERT_TRUE(mc.ok()) << mc.status().message();
  auto out = (*mc)->run({{"input_ids", ids_tensor(g.prompt)}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const std::vector<float> stitched = output(*out, "logits");

  LlmPackageOptions o;
  o.prefill_length = T;
  ASSERT_TRUE(write_llm_package(*model, o, dir + "/single.mlpackage").ok());
  auto single = load_package(dir + "/single.mlpackage");
  ASSERT_TRUE(single.ok()) << single.status().message();
  auto sout = (*single)->run({{"input_ids", ids_tensor(g.prompt)}});
  ASSERT_TRUE(sout.ok()) << sout.status().message();
  const std::vector<float> whole = output(*sout, "logits");
  ASSERT_EQ(stitched.size(), whole.size());
  double max_diff = 0;
  for (size_t i = 0; i < whole.size(); ++i) max_diff = std::max(max_diff, double(std::fabs(stitched[i] - whole[i])));
  EXPECT_EQ(max_diff, 0.0) << "multi-component vs single package";
  auto [cos, rel] = compare(stitched, g.prompt_logits, g.prompt.size());
  EXPECT_GE(cos, 0.99999);
  EXPECT_LE(rel, 1e-4);
  fs::remove_all(dir);
}

// --stateful: the KV cache as Core ML states (read_state / write_state) in both functions. The prefill +
// one decode step through the states equal the explicit-cache fp16 package bit for bit, and HF's logits
// after the first greedy token within the fp16 gate.
TEST(CoreMLLlm, StatefulCachePackageEqualsTheExplicitCache) {
  const Golden g = load_golden();
  auto model = templates::load_model(kKjv);
  ASSERT_TRUE(model.ok()) << model.status().message();
  const std::string dir = temp_dir("state");
  LlmPackageOptions o;
  o.prefill_length = static_cast<int64_t>(g.prompt.size());
  o.max_context = o.prefill_length + 4;
  o.precision = Precision::kFp16;
  ASSERT_TRUE(write_llm_package(*model, o, dir + "/explicit.mlpackage").ok());
  o.stateful = true;
  ASSERT_TRUE(write_llm_package(*model, o, dir + "/stateful.mlpackage").ok());
  auto m = frontends::coreml::load_coreml(dir + "/stateful.mlpackage", {.materialize_blobs = false});
  ASSERT_TRUE(m.ok()) << m.status().message();
  ASSERT_GT(m->proto.description().functions_size(), 0);
  EXPECT_GT(m->proto.description().functions(0).state_size(), 0) << "prefill declares its states";

  const Tensor token = ids_tensor({g.greedy[0]}), position = ids_tensor({static_cast<int32_t>(g.prompt.size())});
  // Explicit cache: prefill's <cache>_out feed decode.
  auto ep = load_package(dir + "/explicit.mlpackage", "prefill");
  auto ed = load_package(dir + "/explicit.mlpackage", "decode");
  ASSERT_TRUE(ep.ok() && ed.ok());
  auto pre = (*ep)->run({{"input_ids", ids_tensor(g.prompt)}});
  ASSERT_TRUE(pre.ok()) << pre.status().message();
  NamedValues in{{"token", token}, {"position", position}};
  NamedValues states;
  for (auto& [name, v] : *pre)
    if (name.size() > 4 && name.compare(name.size() - 4, 4, "_out") == 0) {
      const std::string base = name.substr(0, name.size() - 4);
      in[base] = v;
      const Tensor& t = std::get<Tensor>(v);
      states[base] = StateValue{std::make_shared<Tensor>(Tensor(t.dtype(), t.shape()))};  // zeros
    }
  ASSERT_FALSE(states.empty());
  auto explicit_step = (*ed)->run(in);
  ASSERT_TRUE(explicit_step.ok()) << explicit_step.status().message();

  // States: the same storage through prefill and decode.
  auto sp = load_package(dir + "/stateful.mlpackage", "prefill");
  auto sd = load_package(dir + "/stateful.mlpackage", "decode");
  ASSERT_TRUE(sp.ok()) << sp.status().message();
  ASSERT_TRUE(sd.ok()) << sd.status().message();
  NamedValues sin = states;
  sin["input_ids"] = ids_tensor(g.prompt);
  auto spre = (*sp)->run(sin);
  ASSERT_TRUE(spre.ok()) << spre.status().message();
  EXPECT_EQ(output(*spre, "logits"), output(*pre, "logits"));
  NamedValues din = states;
  din["token"] = token;
  din["position"] = position;
  auto sstep = (*sd)->run(din);
  ASSERT_TRUE(sstep.ok()) << sstep.status().message();
  EXPECT_EQ(output(*sstep, "logits"), output(*explicit_step, "logits"));
  const size_t V = g.prompt_logits.size() / g.prompt.size();
  std::vector<float> ref(g.decode_logits.begin() + static_cast<int64_t>(V), g.decode_logits.begin() + static_cast<int64_t>(2 * V));
  EXPECT_GE(compare(output(*sstep, "logits"), ref, 1).first, 0.999);
  // fp32 caches cannot be Core ML states.
  o.precision = Precision::kFp32;
  auto bad = write_llm_package(*model, o, dir + "/bad.mlpackage");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("fp16"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(fs::exists(dir + "/bad.mlpackage"));
  fs::remove_all(dir);
}

// `ironmill compile MODEL.gguf`: kjv-llama-5m exported to an F32 GGUF (llama.cpp's tensor names and q/k
// row order), loaded through templates::load_model, compiled and run: HF's prompt logits within fp32 gates.
TEST(CoreMLLlm, GgufModelCompilesToAPackageMatchingHuggingFace) {
  const Golden g = load_golden();
  const std::string dir = temp_dir("gguf");
  frontends::gguf_export::ExportOptions eo;
  eo.type = formats::gguf::GgmlType::kF32;
  auto ex = frontends::gguf_export::export_gguf(kKjv, dir + "/kjv.gguf", eo);
  ASSERT_TRUE(ex.ok()) << ex.status().message();
  auto model = templates::load_model(dir + "/kjv.gguf");
  ASSERT_TRUE(model.ok()) << model.status().message();
  LlmPackageOptions o;
  o.prefill_length = static_cast<int64_t>(g.prompt.size());
  ASSERT_TRUE(write_llm_package(*model, o, dir + "/kjv.mlpackage").ok());
  auto exe = load_package(dir + "/kjv.mlpackage");
  ASSERT_TRUE(exe.ok()) << exe.status().message();
  auto out = (*exe)->run({{"input_ids", ids_tensor(g.prompt)}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  auto [cos, rel] = compare(output(*out, "logits"), g.prompt_logits, g.prompt.size());
  EXPECT_GE(cos, 0.99999);
  EXPECT_LE(rel, 1e-4);
  fs::remove_all(dir);
}

TEST(CoreMLLlm, ComponentErrorsNameTheProblem) {
  auto model = templates::load_model(kKjv);
  ASSERT_TRUE(model.ok()) << model.status().message();
  auto bad = build_component(*model, {"transformer", 4, 9, 1}, 8, Precision::kFp32);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("6 layers"), std::string::npos) << bad.status().message();
  // A cut whose outputs lie upstream of its inputs needs the function input input_ids.
  templates::TemplateOptions to;
  to.prefill_length = 4;
  auto llm = templates::build_llm(model->config, *model->weights, to);
  ASSERT_TRUE(llm.ok());
  auto seg = extract_segment(*llm->program.function("prefill"), {"hidden_3"}, {"hidden_1"}, "main");
  ASSERT_FALSE(seg.ok());
  EXPECT_NE(seg.status().message().find("input_ids"), std::string::npos) << seg.status().message();
  EXPECT_FALSE(parse_precision("int3").ok());
}

}  // namespace
}  // namespace ironmill::backends::coreml
