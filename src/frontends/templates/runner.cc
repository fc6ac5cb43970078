#include "frontends/templates/runner.h"

namespace ironmill::templates {

using backends::NamedValues;
using mil::DType;
using mil::Tensor;

int32_t argmax(std::span<const float> v) {
  int32_t best = 0;
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] > v[static_cast<size_t>(best)]) best = static_cast<int32_t>(i);  // first maximum, like torch
  return best;
}

namespace {
std::map<std::string, LanguageModelFactory>& language_model_factories() {
  static std::map<std::string, LanguageModelFactory> factories;
  return factories;
}
}  // namespace

void register_language_model(const std::string& backend, LanguageModelFactory factory) {
  language_model_factories()[backend] = std::move(factory);
}

Status language_model_available(const std::string& backend) {
  if (language_model_factories().count(backend)) return Status::Ok();
  auto b = backends::make_backend(backend);
  return b.ok() ? Status::Ok() : b.status();
}

Result<std::unique_ptr<LanguageModel>> open_language_model(const std::string& model_path, const std::string& backend) {
  const auto& factories = language_model_factories();
  if (auto it = factories.find(backend); it != factories.end()) return it->second(model_path);
  IM_ASSIGN_OR_RETURN(auto runner, LlmRunner::open(model_path, backend));
  return std::unique_ptr<LanguageModel>(std::move(runner));
}

Result<std::unique_ptr<LlmRunner>> LlmRunner::open(const std::string& model_path, const std::string& backend) {
  IM_ASSIGN_OR_RETURN(LoadedModel m, load_model(model_path));
  IM_ASSIGN_OR_RETURN(auto b, backends::make_backend(backend));
  return std::make_unique<LlmRunner>(std::move(m), std::move(b));
}

LlmRunner::LlmRunner(LoadedModel model, std::unique_ptr<backends::Backend> backend)
    : model_(std::move(model)), backend_(std::move(backend)), backend_name_(backend_->name()) {}

Result<backends::Executable*> LlmRunner::executable(bool decode, int64_t tokens, int64_t max_context, bool hidden) {
  auto key = std::make_tuple(decode, decode ? 0 : tokens, max_context, hidden);
  if (auto it = compiled_.find(key); it != compiled_.end()) return it->second.second.get();
  TemplateOptions o;
  o.prefill_length = decode ? 0 : tokens;
  o.max_context = max_context;
  o.hidden_states = hidden;
  IM_ASSIGN_OR_RETURN(LlmProgram prog, build_llm(model_.config, *model_.weights, o));
  backends::CompileOptions co;
  co.function = decode ? "decode" : "prefill";
  IM_ASSIGN_OR_RETURN(auto exe, backend_->compile(prog.program, co));
  auto* raw = exe.get();
  compiled_[key] = {std::move(prog), std::move(exe)};
  return raw;
}

namespace {
Result<Tensor> output_tensor(const NamedValues& out, const std::string& name) {
  auto it = out.find(name);
  if (it == out.end()) return internal_error("program output `" + name + "` is missing");
  const auto* t = std::get_if<Tensor>(&it->second);
  if (!t) return internal_error("program output `" + name + "` is not a tensor");
  return *t;
}
}  // namespace

Result<PrefillResult> LlmRunner::prefill(std::span<const int32_t> ids, int64_t max_context, bool hidden_states) {
  if (ids.empty()) return invalid_argument("prefill: no tokens");
  const int64_t T = static_cast<int64_t>(ids.size());
  for (int32_t id : ids)
    if (id < 0 || id >= model_.config.vocab_size)
      return invalid_argument("prefill: token id " + std::to_string(id) + " is outside the vocabulary (" +
                              std::to_string(model_.config.vocab_size) + ")");
  IM_ASSIGN_OR_RETURN(backends::Executable * exe, executable(false, T, max_context, hidden_states));
  std::vector<int64_t> v(ids.begin(), ids.end());
  NamedValues in{{"input_ids", Tensor::from_i64(DType::kInt32, {T}, v)}};
  IM_ASSIGN_OR_RETURN(NamedValues out, exe->run(in));
  PrefillResult r;
  r.tokens = T;
  r.vocab = model_.config.vocab_size;
  IM_ASSIGN_OR_RETURN(Tensor logits, output_tensor(out, "logits"));
  r.logits = logits.to_f32();
  if (hidden_states)
    for (int64_t i = 0; i <= model_.config.num_hidden_layers; ++i) {
      IM_ASSIGN_OR_RETURN(Tensor h, output_tensor(out, "hidden_" + std::to_string(i)));
      r.hidden.push_back(h.to_f32());
    }
  for (auto& [name, value] : out) {
    const std::string suffix = "_out";
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      r.cache[name.substr(0, name.size() - suffix.size())] = value;
  }
  return r;
}

Result<std::vector<float>> LlmRunner::decode(int32_t token, int32_t position, int64_t max_context, NamedValues& cache) {
  if (position < 0 || position >= max_context)
    return invalid_argument("decode: position " + std::to_string(position) + " is outside the cache of " +
                            std::to_string(max_context));
  if (token < 0 || token >= model_.config.vocab_size)
    return invalid_argument("decode: token id " + std::to_string(token) + " is outside the vocabulary");
  IM_ASSIGN_OR_RETURN(backends::Executable * exe, executable(true, 0, max_context, false));
  NamedValues in = cache;
  in["token"] = Tensor::from_i64(DType::kInt32, {1}, std::vector<int64_t>{token});
  in["position"] = Tensor::from_i64(DType::kInt32, {1}, std::vector<int64_t>{position});
  IM_ASSIGN_OR_RETURN(NamedValues out, exe->run(in));
  IM_ASSIGN_OR_RETURN(Tensor logits, output_tensor(out, "logits"));
  for (auto& [name, value] : cache) {
    auto it = out.find(name + "_out");
    if (it == out.end()) return internal_error("decode did not return `" + name + "_out`");
    value = it->second;
  }
  return logits.to_f32();
}

Result<GreedyResult> LlmRunner::greedy(std::span<const int32_t> ids, int64_t new_tokens) {
  const int64_t T = static_cast<int64_t>(ids.size());
  const int64_t C = T + new_tokens;
  IM_ASSIGN_OR_RETURN(PrefillResult p, prefill(ids, C, false));
  GreedyResult g;
  const int64_t V = p.vocab;
  std::vector<float> last(p.logits.end() - V, p.logits.end());
  for (int64_t i = 0; i < new_tokens; ++i) {
    if (i > 0) {
      IM_ASSIGN_OR_RETURN(last, decode(g.ids.back(), static_cast<int32_t>(T + i - 1), C, p.cache));
    }
    g.ids.push_back(argmax(last));
    g.logits.push_back(last);
  }
  return g;
}

}  // namespace ironmill::templates
