// Chat templates: the Jinja subset that Hugging Face chat templates use, rendered as transformers renders
// them (jinja2 with trim_blocks=True, lstrip_blocks=True, the loopcontrols extension, transformers' tojson
// and raise_exception). Oracle: python3-jinja2 (tests/engine/data/regenerate_chat_templates.py).
//
// Supported: {{ }}, {% if/elif/else/endif %}, {% for x in xs [if cond] %} (tuple targets, {% else %},
// loop.index/index0/revindex/revindex0/first/last/length/previtem/nextitem, break/continue), {% set %}
// (names and namespace attributes), {# #}, whitespace control {%- -%} {{- -}} {%+ +%}, literals (strings,
// numbers, true/false/none, lists, dicts), ~ + - * / // % **, comparisons, and/or/not, in / not in,
// `a if c else b`, `is [not] defined/undefined/none/string/number/integer/float/boolean/mapping/iterable/
// sequence/true/false/odd/even/divisibleby(n)/eq(x)`, subscripts and slices, attribute access on dicts,
// filters trim length count upper lower tojson string first last join default/d capitalize title replace
// int float list items safe reverse abs, string methods strip lstrip rstrip startswith endswith upper lower
// title capitalize replace split join, dict methods items keys values get, globals raise_exception(msg)
// (-> an error value carrying msg), namespace(k=v, ...), range(...).
// Anything else (macros, blocks, includes, set blocks, unknown filters/tests/methods) is an error naming the
// offset in the template. Case mapping (upper/lower/title/capitalize) is ASCII only.
#pragma once
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "util/status.h"

namespace ironmill::formats::tokenizer {

class ChatTemplate {
 public:
  // Parses once; a syntax error (or unsupported syntax) names the byte offset in `source`.
  static Result<ChatTemplate> parse(std::string_view source);
  // `context`: the template's variables (messages, add_generation_prompt, bos_token, eos_token, ...).
  // ordered_json keeps dict keys in insertion order, as Python's dicts (tojson output depends on it).
  Result<std::string> render(const nlohmann::ordered_json& context) const;

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
};

Result<std::string> render_chat_template(std::string_view source, const nlohmann::ordered_json& context);

// A model's chat template: chat_template.jinja in the model directory, else tokenizer_config.json
// "chat_template" (a string, or a list of {name, template} from which `name` is picked). bos/eos tokens come
// from tokenizer_config.json (a string or an AddedToken object's "content"). A .gguf file: its
// tokenizer.chat_template[.NAME] metadata, BOS/EOS from its vocabulary. nullopt: the model has none.
struct ModelChatTemplate {
  std::string source;
  std::string origin;  // the file (and entry) it was read from, for messages
  std::string bos_token, eos_token;
};
Result<std::optional<ModelChatTemplate>> load_chat_template(const std::filesystem::path& model_dir,
                                                            const std::string& name = "default");

}  // namespace ironmill::formats::tokenizer
