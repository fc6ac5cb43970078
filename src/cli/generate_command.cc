// `ironmill generate --model PATH --prompt TEXT [--max-tokens N] [--temperature T] [--seed S] [--top-k K]
// [--top-p P] [--min-p M] [--stats]`: text generation on the decode engine (CPU). PATH is a model directory
// (config.json + SafeTensors + tokenizer), a .gguf file, or a .ironml-gpu bundle compiled from a model
// directory (`ironmill compile DIR --runtime gpu`, which copies the tokenizer files into it). The generated
// text streams to stdout; --stats prints token counts and timings to stderr.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/generate.h"
#include "formats/tokenizer/tokenizer.h"

namespace {

const char* kGenerateUsage =
    "usage: ironmill generate --model PATH --prompt TEXT [--max-tokens N] [--temperature T] [--seed S]\n"
    "                         [--top-k K] [--top-p P] [--min-p M] [--threads N] [--stats]\n"
    "  defaults: --max-tokens 512 --temperature 0.7 --top-p 0.9 --top-k 0 --min-p 0 --seed 0\n"
    "  (--temperature 0 is greedy)\n";

template <class T>
bool parse_number(const std::string& s, T& out) {
  try {
    size_t used = 0;
    if constexpr (std::is_floating_point_v<T>) out = static_cast<T>(std::stod(s, &used));
    else out = static_cast<T>(std::stoll(s, &used));
    return used == s.size();
  } catch (...) {
    return false;
  }
}

}  // namespace

int cmd_generate(const std::vector<std::string>& args) {
  using namespace ironmill;
  std::string model, prompt;
  bool have_prompt = false, stats = false;
  engine::GenerateParams params;
  engine::EngineOptions options;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string* { return i + 1 < args.size() ? &args[++i] : nullptr; };
    const std::string* v = nullptr;
    bool ok = true;
    if (a == "--model") ok = (v = value()) && (model = *v, true);
    else if (a == "--prompt") ok = (v = value()) && (prompt = *v, have_prompt = true);
    else if (a == "--max-tokens") ok = (v = value()) && parse_number(*v, params.max_tokens) && params.max_tokens >= 0;
    else if (a == "--temperature") ok = (v = value()) && parse_number(*v, params.sampling.temperature);
    else if (a == "--seed") ok = (v = value()) && parse_number(*v, params.sampling.seed);
    else if (a == "--top-k") ok = (v = value()) && parse_number(*v, params.sampling.top_k) && params.sampling.top_k >= 0;
    else if (a == "--top-p") ok = (v = value()) && parse_number(*v, params.sampling.top_p);
    else if (a == "--min-p") ok = (v = value()) && parse_number(*v, params.sampling.min_p);
    else if (a == "--threads") ok = (v = value()) && parse_number(*v, options.threads) && options.threads > 0;
    else if (a == "--stats") stats = true;
    else if (a == "-h" || a == "--help") return std::cout << kGenerateUsage, 0;
    else ok = false;
    if (!ok) {
      std::cerr << "ironmill generate: bad or unexpected argument `" << a << "`\n" << kGenerateUsage;
      return 2;
    }
  }
  if (model.empty() || !have_prompt) {
    std::cerr << kGenerateUsage;
    return 2;
  }
  auto tok = formats::tokenizer::load_tokenizer(model);
  if (!tok.ok()) return std::cerr << "ironmill generate: " << tok.status().message() << "\n", 1;
  auto eng = engine::Engine::open(model, options);
  if (!eng.ok()) return std::cerr << "ironmill generate: " << eng.status().message() << "\n", 1;
  auto ids = (*tok)->encode(prompt);
  if (!ids.ok()) return std::cerr << "ironmill generate: " << ids.status().message() << "\n", 1;
  auto r = engine::generate(**eng, **tok, *ids, params, [](std::string_view s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
  });
  std::fputc('\n', stdout);
  if (!r.ok()) return std::cerr << "ironmill generate: " << r.status().message() << "\n", 1;
  if (stats) {
    std::fprintf(stderr, "prompt %zu tokens, prefill %.3f s; generated %zu tokens (%s), %.1f tok/s decode\n",
                 ids->size(), r->prefill_seconds, r->ids.size(), r->stop_reason.c_str(),
                 r->decode_seconds > 0 ? static_cast<double>(r->decode_tokens) / r->decode_seconds : 0.0);
  }
  return 0;
}
