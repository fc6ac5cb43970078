// mill-harness perplexity: tokenizes a text with the model's tokenizer and scores it with the model's
// template on a backend, under one of the protocols of frontends/templates/perplexity.h.
#include "harness/perplexity_command.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "formats/tokenizer/tokenizer.h"
#include "frontends/templates/perplexity.h"
#include "harness/report.h"

namespace ironmill::harness {
using json = nlohmann::json;

namespace {
const char* kUsage =
    "usage: mill-harness perplexity --model PATH --text FILE --protocol chunked:N|sliding:W:S [--backend B] [--json FILE]\n"
    "  chunked:N    llama-perplexity: floor(tokens/N) chunks, each scored on its second half\n"
    "  sliding:W:S  Hugging Face sliding window: windows of W tokens every S tokens\n"
    "  PATH is a model directory (config.json, SafeTensors, tokenizer.json). Progress is shown on a terminal.\n";
}  // namespace

int perplexity_command(const std::vector<std::string>& args) {
  std::string model, text_path, protocol_text, backend = "reference", json_path;
  for (size_t i = 0; i < args.size(); ++i) {
    auto need = [&](const char* flag) -> std::string {
      if (i + 1 >= args.size()) {
        std::cerr << "mill-harness perplexity: " << flag << " needs a value\n" << kUsage;
        std::exit(2);
      }
      return args[++i];
    };
    if (args[i] == "--model") model = need("--model");
    else if (args[i] == "--text") text_path = need("--text");
    else if (args[i] == "--protocol") protocol_text = need("--protocol");
    else if (args[i] == "--backend") backend = need("--backend");
    else if (args[i] == "--json") json_path = need("--json");
    else if (args[i] == "-h" || args[i] == "--help") { std::cout << kUsage; return 0; }
    else { std::cerr << "mill-harness perplexity: unknown argument " << args[i] << "\n" << kUsage; return 2; }
  }
  if (model.empty() || text_path.empty() || protocol_text.empty()) {
    std::cerr << "mill-harness perplexity: --model, --text and --protocol are required\n" << kUsage;
    return 2;
  }
  auto protocol = templates::parse_perplexity_protocol(protocol_text);
  if (!protocol.ok()) { std::cerr << "mill-harness perplexity: " << protocol.status().message() << "\n"; return 2; }
  std::ifstream in(text_path, std::ios::binary);
  if (!in) { std::cerr << "mill-harness perplexity: cannot open " << text_path << "\n"; return 2; }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();

  auto tok = formats::tokenizer::load_tokenizer(model);
  if (!tok.ok()) { std::cerr << "mill-harness perplexity: " << tok.status().message() << "\n"; return 2; }
  formats::tokenizer::EncodeOptions eo;
  eo.add_special_tokens = false;  // both protocols score the raw text: no BOS
  auto ids = (*tok)->encode(text, eo);
  if (!ids.ok()) { std::cerr << "mill-harness perplexity: " << ids.status().message() << "\n"; return 2; }
  auto runner = templates::open_language_model(model, backend);
  if (!runner.ok()) { std::cerr << "mill-harness perplexity: " << runner.status().message() << "\n"; return 2; }

  const bool tty = isatty(STDOUT_FILENO) != 0;
  const auto t0 = std::chrono::steady_clock::now();
  auto progress = [&](int64_t done, int64_t total, double nll_sum, int64_t scored) {
    if (!tty) return;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("\r  %s: %lld/%lld windows, ppl so far %.4f, %.0f s   ", protocol->spelling().c_str(),
                static_cast<long long>(done), static_cast<long long>(total),
                std::exp(nll_sum / static_cast<double>(std::max<int64_t>(scored, 1))), s);
    std::fflush(stdout);
  };
  auto r = templates::perplexity(**runner, *ids, *protocol, progress);
  if (tty) std::printf("\n");
  if (!r.ok()) { std::cerr << "mill-harness perplexity: " << r.status().message() << "\n"; return 1; }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("perplexity %.4f (%s, %lld tokens, %lld scored, %lld windows, backend %s, %.1f s)\n", r->ppl,
              protocol->spelling().c_str(), static_cast<long long>(r->tokens), static_cast<long long>(r->scored),
              static_cast<long long>(r->windows), backend.c_str(), seconds);
  if (!json_path.empty()) {
    json out{{"schema", "ironmill.perplexity/1"}, {"model", model}, {"text", text_path},
             {"protocol", protocol->spelling()}, {"backend", backend}, {"ppl", r->ppl},
             {"mean_nll", r->nll_sum / static_cast<double>(r->scored)}, {"tokens", r->tokens},
             {"scored", r->scored}, {"windows", r->windows}, {"seconds", seconds},
             {"note", "Computed on Linux by the named backend; no Apple hardware involved."}};
    Status s = write_file_atomic(json_path, out.dump(1) + "\n");
    if (!s.ok()) { std::cerr << "mill-harness perplexity: " << s.message() << "\n"; return 2; }
  }
  return 0;
}

}  // namespace ironmill::harness
