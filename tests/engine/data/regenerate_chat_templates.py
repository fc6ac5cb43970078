#!/usr/bin/env python3
"""Renders the test chat templates (chat_templates/*.jinja, written for these tests in the style of
ChatML, Llama 3, Gemma, Mistral [INST], a system-first template and one using namespace()) with jinja2,
configured as Hugging Face transformers renders chat templates (ImmutableSandboxedEnvironment,
trim_blocks=True, lstrip_blocks=True, loopcontrols, its tojson filter and raise_exception global), over a
few conversations, and writes the expected strings to chat_templates_expected.json. The C++ renderer
(src/formats/tokenizer/chat_template.cc) must reproduce them exactly (tests/engine/chat_template_test.cc).

usage: python3 regenerate_chat_templates.py [--check]
"""
import json
import pathlib
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "chat_templates_expected.json"


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers' override of jinja2's tojson (no HTML escaping, keys in insertion order)
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


CONVERSATIONS = {
    "user": [{"role": "user", "content": "In the beginning?"}],
    "system_user": [
        {"role": "system", "content": "  Answer in King James English.  "},
        {"role": "user", "content": "Who created the heaven?\n"},
    ],
    "multi_turn": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "And God said"},
        {"role": "assistant", "content": " Let there be light. "},
        {"role": "user", "content": "/and there was light"},
    ],
    "no_system_two_turns": [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Peace be unto thee."},
        {"role": "user", "content": "Ünïcödé \"quoted\" <tags> & more"},
    ],
    "tool_call": [
        {"role": "user", "content": "What is the weather?"},
        {"role": "assistant", "content": "",
         "tool_calls": [{"name": "weather", "arguments": {"city": "Jerusalem", "days": 3, "metric": True}}]},
        {"role": "tool", "content": "sunny"},
    ],
    "bad_alternation": [
        {"role": "user", "content": "one"},
        {"role": "user", "content": "two"},
    ],
}


# Short templates over one context (SNIPPET_CONTEXT), for constructs the six templates do not reach:
# tools / tojson(indent), multimodal content lists, tuples, nested dict literals, '+' modifiers, comments.
SNIPPET_CONTEXT = {
    "messages": [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Hi <b>"},
        {"role": "assistant", "content": "Yo",
         "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1.5, "y": [1, 2]}}}]},
        {"role": "tool", "content": "r"},
        {"role": "user", "content": [{"type": "text", "text": "pic"}, {"type": "image"}]},
    ],
    "tools": [{"type": "function", "function": {"name": "f", "description": "d é", "parameters": {"type": "object"}}}],
}
SNIPPETS = [
    "{%- for tool in tools %}{{- '\\n' }}{{- tool | tojson }}{%- endfor %}",
    "{{ tools | tojson(indent=2) }}",
    "{%- for m in messages %}{%- if (m.role == 'user') or (m.role == 'system' and not loop.first) %}U"
    "{% elif m.role == 'assistant' %}{% for tc in m.tool_calls %}{{ tc.function.name }}({{ tc.function.arguments | tojson }})"
    "{% endfor %}{% else %}[{{ m.role }}]{% endif %}{%- if not loop.last %},{% endif %}{%- endfor %}",
    "{{ messages[-1].content[0].text }}{{ messages | length }}{{ messages[1:-1] | length }}",
    "{% for m in messages %}{% if m.content is string %}{{ m.content }}{% else %}{% for p in m.content %}"
    "{% if p.type == 'text' %}{{ p.text }}{% else %}<img>{% endif %}{% endfor %}{% endif %}|{% endfor %}",
    "{%- set ns = namespace(found=false) -%}{%- for m in messages -%}{%- if m.role == 'tool' -%}"
    "{%- set ns.found = true -%}{%- endif -%}{%- endfor -%}{{ ns.found }}",
    "{% for m in messages|reverse %}{{ m.role[:1]|upper }}{% endfor %}",
    "{{ \"it's\" }} {{ 'a\\tb' }} {{ 'x'.join(['1','2']) }} {{ 'a,b,c'.split(',') }} {{ ' A b '.title() }} "
    "{{ 'q'|default('z') }} {{ undefined_thing|default('z') }}",
    "{% for message in messages[1:] %}{{ loop.index }}{{ loop.revindex }}{% endfor %}",
    "  {%- if true %}\n  a\n  {%+ if true %}b{% endif +%}\n  c {# note #}\n  {# x #}\nd{% endif %}\n\n",
    "{{ (1, 2) }}{{ [1,2][1] }}{{ {'a': 1}['a'] }}{{ {'a': {'b': 2}}.a.b }}{{ 10 / 4 }}{{ 2 * 3 + 1 }}"
    "{{ -3 // 2 }}{{ 5 % -3 }}{{ 1e-5 }}{{ 123456789.0 * 1000000000 }}",
    "{{ 'abc' < 'abd' }}{{ 2 >= 2.0 }}{{ none is none }}{{ 1 is number }}{{ true is boolean }}{{ {} is mapping }}"
    "{{ 3 is odd }}{{ 4 is divisibleby 2 }}{{ 'x' is not defined }}",
]


def main():
    env = environment()
    templates = sorted(p.name for p in (HERE / "chat_templates").glob("*.jinja"))
    cases = []
    for name in templates:
        tmpl = env.from_string((HERE / "chat_templates" / name).read_text(encoding="utf-8"))
        for conv_name, conv in CONVERSATIONS.items():
            for agp in (True, False):
                case = {"template": name, "conversation": conv_name, "add_generation_prompt": agp}
                try:
                    case["expected"] = tmpl.render(messages=conv, add_generation_prompt=agp,
                                                   bos_token="<s>", eos_token="</s>")
                except jinja2.exceptions.TemplateError as e:
                    case["error"] = str(e)
                cases.append(case)
    snippets = [{"template": t, "expected": env.from_string(t).render(**SNIPPET_CONTEXT)} for t in SNIPPETS]
    doc = {"generator": "tests/engine/data/regenerate_chat_templates.py (jinja2 %s)" % jinja2.__version__,
           "bos_token": "<s>", "eos_token": "</s>", "conversations": CONVERSATIONS, "cases": cases,
           "snippet_context": SNIPPET_CONTEXT, "snippets": snippets}
    text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    if "--check" in sys.argv:
        if OUT.read_text(encoding="utf-8") != text:
            print("chat_templates_expected.json is stale", file=sys.stderr)
            return 1
        print("chat_templates_expected.json is up to date (%d cases)" % len(cases))
        return 0
    OUT.write_text(text, encoding="utf-8")
    print("wrote %s: %d cases, %d errors, %d snippets" % (OUT, len(cases), sum("error" in c for c in cases),
                                                         len(snippets)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
