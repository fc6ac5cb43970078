// `ironmill chat --model PATH [--max-tokens N] [--temperature T] [--seed S]`: interactive generation on the
// decode engine. Each line read from stdin is a turn; the conversation stays in the engine's KV cache (the
// next turn is appended, not re-prefilled). Chat templates (tokenizer_config.json `chat_template`, Jinja)
// are not rendered yet: turns are fed as plain prompt text, and the command says so when a model has one.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/generate.h"
#include "formats/tokenizer/tokenizer.h"

int cmd_chat(const std::vector<std::string>& args) {
  using namespace ironmill;
  const char* usage = "usage: ironmill chat --model PATH [--max-tokens N] [--temperature T] [--seed S]\n";
  std::string model;
  engine::GenerateParams params;
  params.max_tokens = 256;
  for (size_t i = 0; i < args.size(); ++i) {
    const bool has = i + 1 < args.size();
    try {
      if (args[i] == "--model" && has) model = args[++i];
      else if (args[i] == "--max-tokens" && has) params.max_tokens = std::stoll(args[++i]);
      else if (args[i] == "--temperature" && has) params.sampling.temperature = std::stof(args[++i]);
      else if (args[i] == "--seed" && has) params.sampling.seed = std::stoull(args[++i]);
      else return std::cerr << "ironmill chat: unexpected argument `" << args[i] << "`\n" << usage, 2;
    } catch (...) {
      return std::cerr << "ironmill chat: bad value for " << args[i - 1] << "\n" << usage, 2;
    }
  }
  if (model.empty()) return std::cerr << usage, 2;
  const std::filesystem::path cfg = std::filesystem::path(model) / "tokenizer_config.json";
  if (std::filesystem::is_regular_file(cfg)) {
    std::ifstream in(cfg);
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (!j.is_discarded() && j.contains("chat_template"))
      std::cerr << "ironmill chat: the model has a chat template; rendering it is not implemented, turns are plain text\n";
  }
  auto tok = formats::tokenizer::load_tokenizer(model);
  if (!tok.ok()) return std::cerr << "ironmill chat: " << tok.status().message() << "\n", 1;
  auto eng = engine::Engine::open(model);
  if (!eng.ok()) return std::cerr << "ironmill chat: " << eng.status().message() << "\n", 1;
  std::string line;
  bool first = true;
  while (std::cerr << "> " << std::flush, std::getline(std::cin, line)) {
    if (line.empty()) continue;
    formats::tokenizer::EncodeOptions eo;
    eo.add_special_tokens = first;  // BOS (if any) once, at the start of the conversation
    auto ids = (*tok)->encode(first ? line : "\n" + line, eo);
    if (!ids.ok()) return std::cerr << "ironmill chat: " << ids.status().message() << "\n", 1;
    if ((*eng)->seq_pos() + static_cast<int64_t>(ids->size()) + params.max_tokens > (*eng)->max_seq_len()) {
      std::cerr << "ironmill chat: context full, starting over\n";
      (*eng)->reset();
    }
    auto r = engine::generate(**eng, **tok, *ids, params, [](std::string_view s) {
      std::fwrite(s.data(), 1, s.size(), stdout);
      std::fflush(stdout);
    });
    std::fputc('\n', stdout);
    if (!r.ok()) return std::cerr << "ironmill chat: " << r.status().message() << "\n", 1;
    first = false;
  }
  return 0;
}
