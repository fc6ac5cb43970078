#include "engine/generate.h"

#include <algorithm>
#include <chrono>

namespace ironmill::engine {

std::vector<int32_t> default_stop_tokens(const Engine& engine, const formats::tokenizer::Tokenizer& tokenizer) {
  std::vector<int32_t> out;
  for (int64_t id : engine.config().eos_token_ids) out.push_back(static_cast<int32_t>(id));
  if (auto e = tokenizer.eos_id()) out.push_back(*e);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<GenerateResult> generate(Engine& engine, const formats::tokenizer::Tokenizer& tokenizer,
                                std::span<const int32_t> prompt, const GenerateParams& params,
                                const std::function<void(std::string_view)>& on_text) {
  using clock = std::chrono::steady_clock;
  GenerateResult r;
  const std::vector<int32_t> stops = params.stop_tokens.empty() ? default_stop_tokens(engine, tokenizer) : params.stop_tokens;
  Sampler sampler(params.sampling, engine.vocab_size());
  formats::tokenizer::StreamDecoder stream(tokenizer, {.skip_special_tokens = true});
  auto emit = [&](const std::string& s) {
    if (s.empty()) return;
    r.text += s;
    if (on_text) on_text(s);
  };
  auto t0 = clock::now();
  IM_ASSIGN_OR_RETURN(std::span<const float> logits, engine.prefill(prompt));
  r.prefill_seconds = std::chrono::duration<double>(clock::now() - t0).count();
  t0 = clock::now();
  r.stop_reason = "max_tokens";
  for (int64_t i = 0; i < params.max_tokens; ++i) {
    const int32_t next = sampler.sample(logits);
    if (std::find(stops.begin(), stops.end(), next) != stops.end()) {
      r.stop_reason = "stop_token";
      break;
    }
    r.ids.push_back(next);
    IM_ASSIGN_OR_RETURN(std::string piece, stream.push(next));
    emit(piece);
    if (i + 1 == params.max_tokens) break;
    if (engine.seq_pos() >= engine.max_seq_len()) {
      r.stop_reason = "context_full";
      break;
    }
    IM_ASSIGN_OR_RETURN(logits, engine.decode_step(next));
    ++r.decode_tokens;
  }
  emit(stream.finish());
  r.decode_seconds = std::chrono::duration<double>(clock::now() - t0).count();
  return r;
}

}  // namespace ironmill::engine
