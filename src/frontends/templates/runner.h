// Runs a template's program on a backend: prefill, single-step decode with the explicit cache, greedy
// generation. Executables are built and compiled once per static shape (prefill length, cache length).
#pragma once
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

class LlmRunner {
 public:
  static Result<std::unique_ptr<LlmRunner>> open(const std::string& model_path, const std::string& backend);
  LlmRunner(LoadedModel model, std::unique_ptr<backends::Backend> backend);

  const formats::hf::ModelConfig& config() const { return model_.config; }
  const std::string& backend_name() const { return backend_name_; }

  // Cache-free forward pass over `ids` (max_context = 0) or one that also returns the filled cache.
  Result<PrefillResult> prefill(std::span<const int32_t> ids, int64_t max_context = 0, bool hidden_states = false);
  // One token at `position` with the cache from prefill/decode; updates `cache`, returns logits [V].
  Result<std::vector<float>> decode(int32_t token, int32_t position, int64_t max_context, backends::NamedValues& cache);
  // Greedy continuation of `new_tokens` tokens through prefill + cached decode.
  Result<GreedyResult> greedy(std::span<const int32_t> ids, int64_t new_tokens);

 private:
  Result<backends::Executable*> executable(bool decode, int64_t tokens, int64_t max_context, bool hidden);
  LoadedModel model_;
  std::unique_ptr<backends::Backend> backend_;
  std::string backend_name_;
  std::map<std::tuple<bool, int64_t, int64_t, bool>, std::pair<LlmProgram, std::unique_ptr<backends::Executable>>> compiled_;
};

int32_t argmax(std::span<const float> v);

}  // namespace ironmill::templates
