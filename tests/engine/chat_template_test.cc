// The Jinja subset renderer against jinja2 (oracle): tests/engine/data/regenerate_chat_templates.py renders
// our own test templates (chatml / llama3 / gemma / mistral-[INST] / system-first / namespace styles) with
// jinja2 configured as transformers renders chat templates, over several conversations, into
// chat_templates_expected.json; every string must come out identical, and every raise_exception case must
// be an error carrying the template's message. Plus: unsupported syntax names the offset, and the model
// directory lookup (chat_template.jinja, tokenizer_config.json string / named list).
#include "formats/tokenizer/chat_template.h"

#include <gtest/gtest.h>

#include "formats/gguf/gguf.h"
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace ironmill::formats::tokenizer {
namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;
const fs::path kData = fs::path(IRONMILL_SOURCE_DIR) / "tests/engine/data";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ChatTemplate, MatchesJinja2OnTheTestTemplates) {
  const ojson doc = ojson::parse(slurp(kData / "chat_templates_expected.json"));
  int matched = 0, errors = 0;
  for (const auto& c : doc["cases"]) {
    const std::string name = c["template"].get<std::string>() + " / " + c["conversation"].get<std::string>() +
                             (c["add_generation_prompt"].get<bool>() ? " / agp" : "");
    auto t = ChatTemplate::parse(slurp(kData / "chat_templates" / c["template"].get<std::string>()));
    ASSERT_TRUE(t.ok()) << name << ": " << t.status().message();
    ojson ctx = {{"messages", doc["conversations"][c["conversation"].get<std::string>()]},
                 {"add_generation_prompt", c["add_generation_prompt"]},
                 {"bos_token", doc["bos_token"]},
                 {"eos_token", doc["eos_token"]}};
    auto r = t->render(ctx);
    if (c.contains("expected")) {
      ASSERT_TRUE(r.ok()) << name << ": " << r.status().message();
      EXPECT_EQ(*r, c["expected"].get<std::string>()) << name;
      matched += *r == c["expected"].get<std::string>();
    } else {
      ASSERT_FALSE(r.ok()) << name << " rendered " << *r;
      EXPECT_NE(r.status().message().find(c["error"].get<std::string>()), std::string::npos)
          << name << ": " << r.status().message();
      ++errors;
    }
  }
  std::cout << matched << " rendered strings equal jinja2's, " << errors << " raise_exception cases\n";
  EXPECT_GE(matched + errors, 72);
}

TEST(ChatTemplate, MatchesJinja2OnTheSnippets) {
  const ojson doc = ojson::parse(slurp(kData / "chat_templates_expected.json"));
  ASSERT_GE(doc["snippets"].size(), 12u);
  for (const auto& c : doc["snippets"]) {
    const std::string src = c["template"].get<std::string>();
    auto r = render_chat_template(src, doc["snippet_context"]);
    ASSERT_TRUE(r.ok()) << src << ": " << r.status().message();
    EXPECT_EQ(*r, c["expected"].get<std::string>()) << src;
  }
}

std::string render_or_error(const std::string& src, const ojson& ctx = ojson::object()) {
  auto r = render_chat_template(src, ctx);
  return r.ok() ? "OK:" + *r : "ERR:" + r.status().message();
}

TEST(ChatTemplate, UnsupportedSyntaxNamesTheOffset) {
  EXPECT_EQ(render_or_error("ab{% macro x() %}{% endmacro %}").rfind("ERR:chat template offset 5: unsupported", 0), 0u)
      << render_or_error("ab{% macro x() %}{% endmacro %}");
  EXPECT_NE(render_or_error("{{ x | frobnicate }}", {{"x", 1}}).find("offset 7: unsupported filter `frobnicate`"),
            std::string::npos)
      << render_or_error("{{ x | frobnicate }}", {{"x", 1}});
  EXPECT_NE(render_or_error("hello {{ x ").find("offset 6: tag is not closed"), std::string::npos);
  EXPECT_NE(render_or_error("{% if x %}a").find("missing {% elif / else / endif %}"), std::string::npos)
      << render_or_error("{% if x %}a");
  EXPECT_NE(render_or_error("{{ 'a' @ 'b' }}").find("offset 7: unexpected character `@`"), std::string::npos);
  EXPECT_NE(render_or_error("{{ foo.bar }}").find("offset 7: 'foo' is undefined"), std::string::npos)
      << render_or_error("{{ foo.bar }}");
  EXPECT_NE(render_or_error("{{ x is frob }}", {{"x", 1}}).find("unsupported test `frob`"), std::string::npos);
  EXPECT_NE(render_or_error("{{ raise_exception('no system role') }}").find("chat template raised: no system role"),
            std::string::npos);
}

// Small expressions; the expected strings are what jinja2 3.1.6 prints for each template in the environment
// of regenerate_chat_templates.py (checked when they were written; rerun that way when changing one).
TEST(ChatTemplate, ExpressionsPrintLikeJinja2) {
  const ojson ctx = {{"xs", {1, 2, 3}}, {"s", "  Hi There  "}, {"d", {{"b", 1}, {"a", nullptr}}}};
  const std::pair<const char*, const char*> cases[] = {
      {"{{ 1.0 }} {{ 1e20 }} {{ 0.1 + 0.2 }} {{ 3 / 2 }} {{ 7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }}",
       "1.0 1e+20 0.30000000000000004 1.5 3 2 1024"},
      {"{{ [1, 'a', none, true] }} {{ d }}", "[1, 'a', None, True] {'b': 1, 'a': None}"},
      {"{{ xs[1:] }}{{ xs[::-1] }}{{ xs[-1] }}{{ 'abcdef'[1:4] }}", "[2, 3][3, 2, 1]3bcd"},
      {"{{ s | trim | lower }}|{{ s.strip().upper() }}|{{ s | length }}", "hi there|HI THERE|12"},
      {"{{ d | tojson }} {{ xs | tojson }} {{ 'a\"\\n' | tojson }}", "{\"b\": 1, \"a\": null} [1, 2, 3] \"a\\\"\\n\""},
      {"{{ 2 in xs }}{{ 5 not in xs }}{{ 'i T' in s }}{{ 'a' in d }}", "TrueTrueTrueTrue"},
      {"{{ d.a is none }}{{ d.c is defined }}{{ s is string }}{{ xs is string }}", "TrueFalseTrueFalse"},
      {"{{ 'y' if xs | length > 2 else 'n' }}{{ 'z' if false }}.", "y."},
      {"{% for x in xs %}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}",
       "0TrueFalse3;1FalseFalse3;2FalseTrue3;"},
      {"{% set n = namespace(t=0) %}{% for x in xs %}{% set n.t = n.t + x %}{% endfor %}{{ n.t }}", "6"},
      {"{% set t = 0 %}{% for x in xs %}{% set t = t + x %}{% endfor %}{{ t }}", "0"},
      {"{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}", "b=1,a=None,"},
      {"{% for x in xs %}{% if x == 2 %}{% continue %}{% endif %}{{ x }}{% if x == 3 %}{% break %}{% endif %}{% endfor %}",
       "13"},
      {"{{ 'a' ~ 1 ~ none }} {{ 'x' + 'y' }} {{ 1 < 2 < 3 }} {{ not 0 and 'ok' }}", "a1None xy True ok"},
      {"  {% if true %}\n    yes\n  {% endif %}\nend", "    yes\nend"},
      {"a  {%- if true -%}  b  {%- endif -%}  c\n", "abc"},
  };
  for (const auto& [src, want] : cases) EXPECT_EQ(render_or_error(src, ctx), std::string("OK:") + want) << src;
}

fs::path temp_model(const std::string& tag) {
  const fs::path p = fs::temp_directory_path() / ("ironmill-chat-template-" + std::to_string(::getpid()) + "-" + tag);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

TEST(ChatTemplate, LoadsTheModelsTemplate) {
  const fs::path dir = temp_model("load");
  EXPECT_FALSE(*load_chat_template(dir));  // none
  std::ofstream(dir / "tokenizer_config.json")
      << R"({"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>",
            "chat_template": [{"name": "default", "template": "D{{ bos_token }}"}, {"name": "tool_use", "template": "T"}]})";
  auto t = load_chat_template(dir);
  ASSERT_TRUE(t.ok() && *t) << t.status().message();
  EXPECT_EQ((*t)->source, "D{{ bos_token }}");
  EXPECT_EQ((*t)->bos_token, "<s>");
  EXPECT_EQ((*t)->eos_token, "</s>");
  EXPECT_EQ((*load_chat_template(dir, "tool_use"))->source, "T");
  auto missing = load_chat_template(dir, "rag");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no template named `rag` (has default, tool_use)"), std::string::npos);
  std::ofstream(dir / "chat_template.jinja") << "J";
  EXPECT_EQ((*load_chat_template(dir))->source, "J");  // the separate file wins, as in transformers
  fs::remove_all(dir);
}

TEST(ChatTemplate, LoadsAGgufFilesTemplate) {
  namespace gg = formats::gguf;
  const fs::path dir = temp_model("gguf");
  const fs::path file = dir / "m.gguf";
  gg::Writer w;
  ASSERT_TRUE(w.set("general.architecture", gg::Value::str("llama")).ok());
  ASSERT_TRUE(w.set("tokenizer.ggml.tokens", gg::Value::strings({"<unk>", "<s>", "</s>", "a"})).ok());
  ASSERT_TRUE(w.set("tokenizer.ggml.bos_token_id", gg::Value::u32(1)).ok());
  ASSERT_TRUE(w.set("tokenizer.ggml.eos_token_id", gg::Value::u32(2)).ok());
  ASSERT_TRUE(w.set("tokenizer.chat_template", gg::Value::str("{{ bos_token }}x{{ eos_token }}")).ok());
  ASSERT_TRUE(w.write(file.string()).ok());
  auto t = load_chat_template(file);
  ASSERT_TRUE(t.ok() && *t) << t.status().message();
  EXPECT_EQ((*t)->source, "{{ bos_token }}x{{ eos_token }}");
  EXPECT_EQ((*t)->bos_token, "<s>");
  EXPECT_EQ((*t)->eos_token, "</s>");
  EXPECT_FALSE(*load_chat_template(file, "tool_use"));
  // A bundle compiled from a GGUF file: the metadata copy tokenizer.gguf is where the template is.
  fs::rename(file, dir / "tokenizer.gguf");
  auto b = load_chat_template(dir);
  ASSERT_TRUE(b.ok() && *b) << b.status().message();
  EXPECT_EQ((*b)->source, "{{ bos_token }}x{{ eos_token }}");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ironmill::formats::tokenizer
