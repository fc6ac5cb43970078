// Runs a template's program on a backend: prefill, single-step decode with the explicit cache, greedy
// generation. Executables are built and compiled once per static shape (prefill length, cache length).
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "backends/backend.h"
#include "frontends/templates/template.h"

namespace ironmill::templates {

struct PrefillResult {
  int64_t tokens = 0, vocab = 0;
  std::vector<float> logits;               // [T, V]
  std::vector<std::vector<float>> hidden;  // L + 1 entries of [T, H] (when asked)
  backends::NamedValues cache;             // cache name -> tensor (when a cache length was given)
};

struct GreedyResult {
  std::vector<int32_t> ids;                // the new tokens
  std::vector<std::vector<float>> logits;  // the logits that chose each (first: prefill's last row)
};

// What golden parity and perplexity drive: a model on one backend. Template programs on a MIL backend
// (LlmRunner below) are one kind; runtimes with their own forward pass (the decode engine) register a
// factory under their backend name.
class LanguageModel {
 public:
  virtual ~LanguageModel() = default;
  virtual const formats::hf::ModelConfig& config() const = 0;
  virtual std::string backend_name() const = 0;
  // Cache-free forward pass over `ids` (max_context = 0) or one that also returns the filled cache
  // (template runners only; `cache` stays empty elsewhere). Hidden states when asked.
  virtual Result<PrefillResult> prefill(std::span<const int32_t> ids, int64_t max_context = 0,
                                        bool hidden_states = false) = 0;
  // Greedy continuation of `new_tokens` tokens through prefill + cached decode.
  virtual Result<GreedyResult> greedy(std::span<const int32_t> ids, int64_t new_tokens) = 0;
};

using LanguageModelFactory = std::function<Result<std::unique_ptr<LanguageModel>>(const std::string& model_path)>;
// Makes `backend` resolve to `factory` in open_language_model (e.g. "engine"); replaces an earlier one.
void register_language_model(const std::string& backend, LanguageModelFactory factory);
// OK when `backend` is registered above or is a MIL backend this build has; else why not.
Status language_model_available(const std::string& backend);
// A registered factory for `backend`, else the template program on the MIL backend of that name.
Result<std::unique_ptr<LanguageModel>> open_language_model(const std::string& model_path, const std::string& backend);

class LlmRunner final : public LanguageModel {
 public:
  static Result<std::unique_ptr<LlmRunner>> open(const std::string& model_path, const std::string& backend);
  LlmRunner(LoadedModel model, std::unique_ptr<backends::Backend> backend);

  const formats::hf::ModelConfig& config() const override { return model_.config; }
  std::string backend_name() const override { return backend_name_; }

  Result<PrefillResult> prefill(std::span<const int32_t> ids, int64_t max_context = 0,
                                bool hidden_states = false) override;
  // One token at `position` with the cache from prefill/decode; updates `cache`, returns logits [V].
  Result<std::vector<float>> decode(int32_t token, int32_t position, int64_t max_context, backends::NamedValues& cache);
  Result<GreedyResult> greedy(std::span<const int32_t> ids, int64_t new_tokens) override;

 private:
  Result<backends::Executable*> executable(bool decode, int64_t tokens, int64_t max_context, bool hidden);
  LoadedModel model_;
  std::unique_ptr<backends::Backend> backend_;
  std::string backend_name_;
  std::map<std::tuple<bool, int64_t, int64_t, bool>, std::pair<LlmProgram, std::unique_ptr<backends::Executable>>> compiled_;
};

int32_t argmax(std::span<const float> v);

}  // namespace ironmill::templates
