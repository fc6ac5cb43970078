// mill-harness latency: the decode engine's prefill time and per-token decode latency on this CPU.
// Each run resets the engine, prefills N prompt tokens (a fixed pseudo-random sequence) and decodes M
// tokens greedily; warm-up runs are discarded. Reports median / p95 per decode token, decode tok/s,
// prefill tok/s, as JSON (reports/latency.json by default) and a human summary on stdout.
#include "harness/latency_command.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "engine/engine.h"
#include "frontends/templates/runner.h"
#include "harness/report.h"

namespace ironmill::harness {
using json = nlohmann::json;

namespace {
const char* kUsage =
    "usage: mill-harness latency --model PATH [--prompt-tokens N] [--gen-tokens M] [--runs R] [--warmup W]\n"
    "                            [--threads T] [--json FILE]\n"
    "  defaults: --prompt-tokens 128 --gen-tokens 64 --runs 5 --warmup 1 --json reports/latency.json\n";

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double idx = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(idx);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (idx - static_cast<double>(lo));
}
}  // namespace

int latency_command(const std::vector<std::string>& args) {
  std::string model, json_path = "reports/latency.json";
  int64_t prompt_tokens = 128, gen_tokens = 64, runs = 5, warmup = 1;
  engine::EngineOptions options;
  for (size_t i = 0; i < args.size(); ++i) {
    auto need = [&]() -> std::string {
      if (i + 1 >= args.size()) {
        std::cerr << "mill-harness latency: " << args[i] << " needs a value\n" << kUsage;
        std::exit(2);
      }
      return args[++i];
    };
    auto number = [&]() -> int64_t {
      const std::string flag = args[i], v = need();
      try {
        size_t used = 0;
        const int64_t n = std::stoll(v, &used);
        if (used == v.size() && n >= 0) return n;
      } catch (...) {
      }
      std::cerr << "mill-harness latency: " << flag << " wants a non-negative integer, got `" << v << "`\n";
      std::exit(2);
    };
    if (args[i] == "--model") model = need();
    else if (args[i] == "--prompt-tokens") prompt_tokens = number();
    else if (args[i] == "--gen-tokens") gen_tokens = number();
    else if (args[i] == "--runs") runs = number();
    else if (args[i] == "--warmup") warmup = number();
    else if (args[i] == "--threads") options.threads = static_cast<int>(number());
    else if (args[i] == "--json") json_path = need();
    else if (args[i] == "-h" || args[i] == "--help") { std::cout << kUsage; return 0; }
    else { std::cerr << "mill-harness latency: unknown argument " << args[i] << "\n" << kUsage; return 2; }
  }
  if (model.empty() || prompt_tokens < 1 || runs < 1) {
    std::cerr << "mill-harness latency: --model is required; --prompt-tokens and --runs must be >= 1\n" << kUsage;
    return 2;
  }
  options.max_seq_len = prompt_tokens + gen_tokens;
  auto eng = engine::Engine::open(model, options);
  if (!eng.ok()) { std::cerr << "mill-harness latency: " << eng.status().message() << "\n"; return 1; }
  engine::Engine& e = **eng;
  std::vector<int32_t> prompt;
  for (int64_t i = 0; i < prompt_tokens; ++i) prompt.push_back(static_cast<int32_t>((i * 7919 + 13) % e.vocab_size()));

  using clock = std::chrono::steady_clock;
  std::vector<double> token_ms, prefill_s, run_tok_s;
  for (int64_t r = 0; r < warmup + runs; ++r) {
    const bool measured = r >= warmup;
    e.reset();
    auto t0 = clock::now();
    auto l = e.prefill(prompt);
    if (!l.ok()) { std::cerr << "mill-harness latency: " << l.status().message() << "\n"; return 1; }
    const double pf = std::chrono::duration<double>(clock::now() - t0).count();
    int32_t next = templates::argmax(*l);
    const auto d0 = clock::now();
    for (int64_t t = 0; t < gen_tokens; ++t) {
      const auto s = clock::now();
      auto step = e.decode_step(next);
      if (!step.ok()) { std::cerr << "mill-harness latency: " << step.status().message() << "\n"; return 1; }
      next = templates::argmax(*step);
      if (measured) token_ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - s).count());
    }
    const double dec = std::chrono::duration<double>(clock::now() - d0).count();
    if (measured) {
      prefill_s.push_back(pf);
      if (gen_tokens > 0) run_tok_s.push_back(static_cast<double>(gen_tokens) / dec);
    }
  }
  const double med = percentile(token_ms, 0.5), p95 = percentile(token_ms, 0.95);
  const double pf_med = percentile(prefill_s, 0.5);
  json j;
  j["schema"] = "ironmill.latency/1";
  j["engine"] = "cpu";
  j["model"] = model;
  j["describe"] = e.describe();
  j["threads"] = options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  j["prompt_tokens"] = prompt_tokens;
  j["gen_tokens"] = gen_tokens;
  j["runs"] = runs;
  j["warmup"] = warmup;
  j["decode_ms_per_token"] = {{"median", med}, {"p95", p95}, {"samples", token_ms.size()}};
  j["decode_tok_per_s_median"] = med > 0 ? 1000.0 / med : 0.0;
  j["decode_tok_per_s_per_run"] = run_tok_s;
  j["prefill_seconds_median"] = pf_med;
  j["prefill_tok_per_s_median"] = pf_med > 0 ? static_cast<double>(prompt_tokens) / pf_med : 0.0;
  Status s = write_file_atomic(json_path, j.dump(1) + "\n");
  if (!s.ok()) { std::cerr << "mill-harness latency: " << s.message() << "\n"; return 1; }
  std::printf("%s\nprompt %lld tokens: prefill median %.2f ms (%.0f tok/s)\n"
              "decode %lld tokens x %lld runs: median %.3f ms/token, p95 %.3f ms/token (%.1f tok/s)\nwrote %s\n",
              e.describe().c_str(), static_cast<long long>(prompt_tokens), pf_med * 1e3,
              pf_med > 0 ? static_cast<double>(prompt_tokens) / pf_med : 0.0, static_cast<long long>(gen_tokens),
              static_cast<long long>(runs), med, p95, med > 0 ? 1000.0 / med : 0.0, json_path.c_str());
  return 0;
}

}  // namespace ironmill::harness
