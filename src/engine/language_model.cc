#include "engine/language_model.h"

namespace ironmill::engine {
namespace {

class EngineLanguageModel final : public templates::LanguageModel {
 public:
  explicit EngineLanguageModel(std::unique_ptr<Engine> e) : engine_(std::move(e)) {}
  const formats::hf::ModelConfig& config() const override { return engine_->config(); }
  std::string backend_name() const override { return "engine"; }

  // Cache-free semantics: every call starts a fresh sequence (the engine's own cache is internal).
  Result<templates::PrefillResult> prefill(std::span<const int32_t> ids, int64_t /*max_context*/,
                                           bool hidden_states) override {
    engine_->reset();
    PrefillExtras extras;
    extras.all_logits = true;
    extras.hidden_states = hidden_states;
    IM_RETURN_IF_ERROR(engine_->prefill(ids, &extras).status());
    templates::PrefillResult r;
    r.tokens = static_cast<int64_t>(ids.size());
    r.vocab = engine_->vocab_size();
    r.logits = std::move(extras.logits);
    r.hidden = std::move(extras.hidden);
    return r;
  }

  Result<templates::GreedyResult> greedy(std::span<const int32_t> ids, int64_t new_tokens) override {
    templates::GreedyResult r;
    engine_->reset();
    if (new_tokens <= 0) return r;
    IM_ASSIGN_OR_RETURN(std::span<const float> logits, engine_->prefill(ids));
    for (int64_t i = 0; i < new_tokens; ++i) {
      r.logits.emplace_back(logits.begin(), logits.end());
      const int32_t next = templates::argmax(logits);
      r.ids.push_back(next);
      if (i + 1 < new_tokens) {
        IM_ASSIGN_OR_RETURN(logits, engine_->decode_step(next));
      }
    }
    return r;
  }

 private:
  std::unique_ptr<Engine> engine_;
};

}  // namespace

Result<std::unique_ptr<templates::LanguageModel>> open_engine_language_model(const std::string& model_path,
                                                                             const EngineOptions& options) {
  IM_ASSIGN_OR_RETURN(auto e, Engine::open(model_path, options));
  return std::unique_ptr<templates::LanguageModel>(std::make_unique<EngineLanguageModel>(std::move(e)));
}

void register_engine_language_model() {
  templates::register_language_model("engine", [](const std::string& path) { return open_engine_language_model(path); });
}

}  // namespace ironmill::engine
