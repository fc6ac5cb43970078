// `ironmill chat --model PATH [--max-tokens N] [--temperature T] [--seed S] [--system TEXT]
// [--template-name NAME] [--print-prompt]`: interactive generation on the decode engine. Each line read
// from stdin is a user turn.
//
// With a chat template (chat_template.jinja, or tokenizer_config.json "chat_template"; rendered by
// formats/tokenizer/chat_template.h as transformers does) the whole conversation is rendered with
// add_generation_prompt=true and tokenized without extra special tokens; only the tokens after the longest
// prefix already in the engine's KV cache are fed (the cache is truncated to that prefix when the rendered
// text diverges from what was generated, e.g. the template closes the assistant turn with its own end
// marker). Without a template, turns are fed as plain text. --print-prompt writes, per turn, one JSON line
// `prompt: {"turn", "messages", "prompt", "prompt_tokens", "cached_tokens", "new_tokens"}` to stderr.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/generate.h"
#include "formats/tokenizer/chat_template.h"
#include "formats/tokenizer/tokenizer.h"

int cmd_chat(const std::vector<std::string>& args) {
  using namespace ironmill;
  namespace tk = formats::tokenizer;
  const char* usage =
      "usage: ironmill chat --model PATH [--max-tokens N] [--temperature T] [--seed S] [--system TEXT]\n"
      "                     [--template-name NAME] [--print-prompt]\n";
  std::string model, system, template_name = "default";
  bool print_prompt = false;
  engine::GenerateParams params;
  params.max_tokens = 256;
  for (size_t i = 0; i < args.size(); ++i) {
    const bool has = i + 1 < args.size();
    try {
      if (args[i] == "--model" && has) model = args[++i];
      else if (args[i] == "--max-tokens" && has) params.max_tokens = std::stoll(args[++i]);
      else if (args[i] == "--temperature" && has) params.sampling.temperature = std::stof(args[++i]);
      else if (args[i] == "--seed" && has) params.sampling.seed = std::stoull(args[++i]);
      else if (args[i] == "--system" && has) system = args[++i];
      else if (args[i] == "--template-name" && has) template_name = args[++i];
      else if (args[i] == "--print-prompt") print_prompt = true;
      else return std::cerr << "ironmill chat: unexpected argument `" << args[i] << "`\n" << usage, 2;
    } catch (...) {
      return std::cerr << "ironmill chat: bad value for " << args[i - 1] << "\n" << usage, 2;
    }
  }
  if (model.empty()) return std::cerr << usage, 2;
  auto tmpl_file = tk::load_chat_template(model, template_name);
  if (!tmpl_file.ok()) return std::cerr << "ironmill chat: " << tmpl_file.status().message() << "\n", 1;
  std::optional<tk::ChatTemplate> tmpl;
  if (*tmpl_file) {
    auto t = tk::ChatTemplate::parse((*tmpl_file)->source);
    if (!t.ok()) return std::cerr << "ironmill chat: " << (*tmpl_file)->origin << ": " << t.status().message() << "\n", 1;
    tmpl = std::move(*t);
  } else if (!system.empty()) {
    return std::cerr << "ironmill chat: --system needs a chat template and " << model << " has none\n", 2;
  }
  auto tok = tk::load_tokenizer(model);
  if (!tok.ok()) return std::cerr << "ironmill chat: " << tok.status().message() << "\n", 1;
  auto eng = engine::Engine::open(model);
  if (!eng.ok()) return std::cerr << "ironmill chat: " << eng.status().message() << "\n", 1;
  engine::Engine& e = **eng;

  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (!system.empty()) messages.push_back({{"role", "system"}, {"content", system}});
  std::vector<int32_t> cached;  // the ids in the engine's KV cache, in order
  std::string line;
  int turn = 0;
  while (std::cerr << "> " << std::flush, std::getline(std::cin, line)) {
    if (line.empty()) continue;
    ++turn;
    std::vector<int32_t> ids;  // the whole conversation (template) or the cache plus this turn (plain text)
    std::string prompt;
    auto render = [&]() -> Status {
      nlohmann::ordered_json ctx = {{"messages", messages}, {"add_generation_prompt", true},
                                    {"bos_token", (*tmpl_file)->bos_token}, {"eos_token", (*tmpl_file)->eos_token}};
      auto r = tmpl->render(ctx);
      if (!r.ok()) return r.status().with_context((*tmpl_file)->origin);
      prompt = std::move(*r);
      tk::EncodeOptions eo;
      eo.add_special_tokens = false;  // the template writes BOS itself, as apply_chat_template tokenizes
      auto enc = (*tok)->encode(prompt, eo);
      if (!enc.ok()) return enc.status();
      ids = std::move(*enc);
      return Status::Ok();
    };
    auto plain = [&]() -> Status {
      tk::EncodeOptions eo;
      eo.add_special_tokens = cached.empty();  // BOS (if any) once, at the start of the conversation
      prompt = cached.empty() ? line : "\n" + line;
      auto enc = (*tok)->encode(prompt, eo);
      if (!enc.ok()) return enc.status();
      ids = cached;
      ids.insert(ids.end(), enc->begin(), enc->end());
      return Status::Ok();
    };
    if (tmpl) messages.push_back({{"role", "user"}, {"content", line}});
    Status st = tmpl ? render() : plain();
    if (st.ok() && static_cast<int64_t>(ids.size()) + params.max_tokens > e.max_seq_len()) {
      std::cerr << "ironmill chat: context full, starting over\n";
      e.reset();
      cached.clear();
      if (tmpl) {  // keep the system message and this turn
        nlohmann::ordered_json last = messages.back();
        messages = nlohmann::ordered_json::array();
        if (!system.empty()) messages.push_back({{"role", "system"}, {"content", system}});
        messages.push_back(std::move(last));
      }
      st = tmpl ? render() : plain();
    }
    if (!st.ok()) return std::cerr << "ironmill chat: " << st.message() << "\n", 1;
    // Keep the longest cached prefix of `ids`; at least one token is fed so there are logits to sample.
    size_t keep = 0;
    while (keep < cached.size() && keep < ids.size() && cached[keep] == ids[keep]) ++keep;
    if (keep == ids.size() && keep > 0) --keep;
    if (keep < cached.size()) {
      if (!e.truncate_to(static_cast<int64_t>(keep)).ok()) {  // a ring buffer no longer holds the prefix
        e.reset();
        keep = 0;
      }
      cached.resize(keep);
    }
    std::span<const int32_t> fresh(ids.data() + keep, ids.size() - keep);
    if (print_prompt) {
      nlohmann::ordered_json p = {{"turn", turn}, {"messages", messages}, {"prompt", prompt},
                                  {"prompt_tokens", ids.size()}, {"cached_tokens", keep}, {"new_tokens", fresh.size()}};
      std::cerr << "prompt: " << p.dump() << "\n";
    }
    auto r = engine::generate(e, **tok, fresh, params, [](std::string_view s) {
      std::fwrite(s.data(), 1, s.size(), stdout);
      std::fflush(stdout);
    });
    std::fputc('\n', stdout);
    if (!r.ok()) return std::cerr << "ironmill chat: " << r.status().message() << "\n", 1;
    cached.insert(cached.end(), fresh.begin(), fresh.end());
    cached.insert(cached.end(), r->ids.begin(), r->ids.end());
    cached.resize(static_cast<size_t>(e.seq_pos()));  // the last sampled token was not fed
    if (tmpl) messages.push_back({{"role", "assistant"}, {"content", r->text}});
  }
  return 0;
}
