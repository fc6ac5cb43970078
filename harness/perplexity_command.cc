// mill-harness perplexity: tokenizes a text with the model's tokenizer (or reads token ids) and scores it
// with the model's template on a backend, under one of the protocols of frontends/templates/perplexity.h.
#include "harness/perplexity_command.h"

#include <unistd.h>

#include <cctype>
#include <chrono>
#include <climits>
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
    "usage: mill-harness perplexity --model PATH (--text FILE | --tokens FILE) --protocol chunked:N|sliding:W:S\n"
    "                               [--backend B] [--json FILE]\n"
    "  --tokens FILE  token ids instead of a text: a JSON array, a JSON object's \"ppl_token_ids\" (a golden.json),\n"
    "                 or integers separated by spaces, commas or newlines (no tokenizer needed)\n"
    "  chunked:N    llama-perplexity: floor(tokens/N) chunks, each scored on its second half\n"
    "  sliding:W:S  Hugging Face sliding window: windows of W tokens every S tokens\n"
    "  PATH is a model directory (config.json, SafeTensors, tokenizer.json). Progress is shown on a terminal.\n";

// Token ids from a --tokens file; the error names the file and the offending entry.
Result<std::vector<int32_t>> read_token_ids(const std::string& path, const std::string& text) {
  std::vector<int32_t> ids;
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && (text[first] == '[' || text[first] == '{')) {
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return invalid_argument(path + ": not valid JSON");
    if (j.is_object()) {
      if (!j.contains("ppl_token_ids")) return invalid_argument(path + ": JSON object without \"ppl_token_ids\"");
      j = j["ppl_token_ids"];
    }
    if (!j.is_array()) return invalid_argument(path + ": expected a JSON array of token ids");
    for (size_t i = 0; i < j.size(); ++i) {
      if (!j[i].is_number_integer() || j[i].get<int64_t>() < 0 || j[i].get<int64_t>() > INT32_MAX)
        return invalid_argument(path + ": entry " + std::to_string(i) + " is not a token id");
      ids.push_back(j[i].get<int32_t>());
    }
    return ids;
  }
  size_t i = 0;
  while (i < text.size()) {
    if (std::isspace(static_cast<unsigned char>(text[i])) || text[i] == ',') { ++i; continue; }
    size_t end = i;
    while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
    if (end == i || end - i > 10 || std::stoll(text.substr(i, end - i)) > INT32_MAX)
      return invalid_argument(path + ": offset " + std::to_string(i) + ": expected a token id");
    ids.push_back(static_cast<int32_t>(std::stoll(text.substr(i, end - i))));
    i = end;
  }
  return ids;
}
}  // namespace

int perplexity_command(const std::vector<std::string>& args) {
  std::string model, text_path, tokens_path, protocol_text, backend = "reference", json_path;
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
    else if (args[i] == "--tokens") tokens_path = need("--tokens");
    else if (args[i] == "--protocol") protocol_text = need("--protocol");
    else if (args[i] == "--backend") backend = need("--backend");
    else if (args[i] == "--json") json_path = need("--json");
    else if (args[i] == "-h" || args[i] == "--help") { std::cout << kUsage; return 0; }
    else { std::cerr << "mill-harness perplexity: unknown argument " << args[i] << "\n" << kUsage; return 2; }
  }
  if (model.empty() || text_path.empty() == tokens_path.empty() || protocol_text.empty()) {
    std::cerr << "mill-harness perplexity: --model, --protocol and one of --text / --tokens are required\n" << kUsage;
    return 2;
  }
  auto protocol = templates::parse_perplexity_protocol(protocol_text);
  if (!protocol.ok()) { std::cerr << "mill-harness perplexity: " << protocol.status().message() << "\n"; return 2; }
  const std::string& input_path = text_path.empty() ? tokens_path : text_path;
  std::ifstream in(input_path, std::ios::binary);
  if (!in) { std::cerr << "mill-harness perplexity: cannot open " << input_path << "\n"; return 2; }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();

  std::vector<int32_t> token_ids;
  if (!tokens_path.empty()) {
    auto ids = read_token_ids(tokens_path, text);
    if (!ids.ok()) { std::cerr << "mill-harness perplexity: " << ids.status().message() << "\n"; return 2; }
    token_ids = std::move(*ids);
  } else {
    auto tok = formats::tokenizer::load_tokenizer(model);
    if (!tok.ok()) { std::cerr << "mill-harness perplexity: " << tok.status().message() << "\n"; return 2; }
    formats::tokenizer::EncodeOptions eo;
    eo.add_special_tokens = false;  // both protocols score the raw text: no BOS
    auto ids = (*tok)->encode(text, eo);
    if (!ids.ok()) { std::cerr << "mill-harness perplexity: " << ids.status().message() << "\n"; return 2; }
    token_ids = std::move(*ids);
  }
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
  auto r = templates::perplexity(**runner, token_ids, *protocol, progress);
  if (tty) std::printf("\n");
  if (!r.ok()) { std::cerr << "mill-harness perplexity: " << r.status().message() << "\n"; return 1; }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("perplexity %.4f (%s, %lld tokens, %lld scored, %lld windows, backend %s, %.1f s)\n", r->ppl,
              protocol->spelling().c_str(), static_cast<long long>(r->tokens), static_cast<long long>(r->scored),
              static_cast<long long>(r->windows), backend.c_str(), seconds);
  if (!json_path.empty()) {
    json out{{"schema", "ironmill.perplexity/1"}, {"model", model}, {"text", text_path.empty() ? json(nullptr) : json(text_path)},
             {"tokens_file", tokens_path.empty() ? json(nullptr) : json(tokens_path)},
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
