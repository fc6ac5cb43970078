// Bad checkpoints give errors that name the tensor or key, never a crash.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "formats/safetensors/safetensors.h"
#include "frontends/templates/template.h"

namespace ironmill::templates {
namespace {

namespace fs = std::filesystem;
namespace st = formats::safetensors;
const fs::path kLlama = fs::path(IRONMILL_SOURCE_DIR) / "golden" / "llama";

// A copy of the tiny llama case with its tensors passed through `edit` and its config through `edit_config`.
fs::path make_case(const std::string& name, const std::function<void(std::vector<st::NamedTensor>&)>& edit,
                   const std::function<void(nlohmann::json&)>& edit_config = {}) {
  fs::path dir = fs::temp_directory_path() / ("ironmill_tmpl_" + name + "_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ifstream in(kLlama / "config.json");
  nlohmann::json cfg = nlohmann::json::parse(in);
  if (edit_config) edit_config(cfg);
  std::ofstream(dir / "config.json") << cfg.dump();
  auto file = st::File::open((kLlama / "model.safetensors").string());
  EXPECT_TRUE(file.ok());
  std::vector<st::NamedTensor> tensors;
  for (const auto& info : file->tensors()) tensors.push_back({info.name, *file->tensor(info.name)});
  edit(tensors);
  EXPECT_TRUE(st::write((dir / "model.safetensors").string(), tensors).ok());
  return dir;
}

Status build(const fs::path& dir) {
  auto m = load_model(dir.string());
  if (!m.ok()) return m.status();
  TemplateOptions o;
  o.prefill_length = 4;
  o.max_context = 8;
  auto p = build_llm(m->config, *m->weights, o);
  return p.ok() ? Status::Ok() : p.status();
}

TEST(TemplateErrors, MissingTensorIsNamed) {
  auto dir = make_case("missing", [](auto& t) {
    std::erase_if(t, [](const st::NamedTensor& x) { return x.name == "model.layers.1.self_attn.k_proj.weight"; });
  });
  Status s = build(dir);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("model.layers.1.self_attn.k_proj.weight"), std::string::npos) << s.message();
  fs::remove_all(dir);
}

TEST(TemplateErrors, MisShapedTensorIsNamedWithBothShapes) {
  auto dir = make_case("shape", [](auto& t) {
    for (auto& x : t)
      if (x.name == "model.layers.0.mlp.up_proj.weight") x.tensor = mil::Tensor(mil::DType::kFp32, {160, 32});
  });
  Status s = build(dir);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("model.layers.0.mlp.up_proj.weight"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("[160, 64]"), std::string::npos) << s.message();
  fs::remove_all(dir);
}

TEST(TemplateErrors, UnsupportedArchitectureAndKeysAreNamed) {
  auto dir = make_case("arch", [](auto&) {}, [](nlohmann::json& c) { c["model_type"] = "falcon"; });
  Status s = build(dir);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("falcon"), std::string::npos) << s.message();
  fs::remove_all(dir);

  dir = make_case("act", [](auto&) {}, [](nlohmann::json& c) { c["hidden_act"] = "relu2"; });
  s = build(dir);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("hidden_act"), std::string::npos) << s.message();
  fs::remove_all(dir);

  dir = make_case("rope", [](auto&) {}, [](nlohmann::json& c) {
    c["rope_parameters"] = {{"rope_type", "longrope"}, {"rope_theta", 10000.0}, {"short_factor", {1.0}},
                            {"long_factor", {1.0}}, {"original_max_position_embeddings", 128}};
  });
  s = build(dir);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("rope"), std::string::npos) << s.message();
  fs::remove_all(dir);
}

TEST(TemplateErrors, OptionsAreChecked) {
  auto m = load_model(kLlama.string());
  ASSERT_TRUE(m.ok()) << m.status().message();
  TemplateOptions o;
  EXPECT_FALSE(build_llm(m->config, *m->weights, o).ok());  // neither function asked for
  o.prefill_length = 16;
  o.max_context = 8;
  EXPECT_FALSE(build_llm(m->config, *m->weights, o).ok());  // prompt longer than the cache
}

}  // namespace
}  // namespace ironmill::templates
