#!/bin/sh
# ironmill chat on a temporary copy of kjv-llama-5m whose tokenizer_config.json carries a test chat
# template (tests/engine/data/chat_templates/chatml_style.jinja): two turns at temperature 0 with
# --print-prompt. Each turn's rendered prompt must equal jinja2's rendering (oracle, configured as
# transformers renders chat templates) of the conversation so far, the reply of turn 1 must be in the
# conversation of turn 2, and turn 2 must reuse the KV cache (feed only the tokens after the cached prefix).
# usage: chat_template_cli_test.sh IRONMILL SOURCE_DIR
set -eu
ironmill=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
model=$tmp/kjv
mkdir "$model"
for f in config.json model.safetensors tokenizer.json; do ln -s "$src/golden/kjv-llama-5m/$f" "$model/$f"; done
python3 - "$src/tests/engine/data/chat_templates/chatml_style.jinja" "$model/tokenizer_config.json" <<'PY'
import json, sys
cfg = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "chat_template": open(sys.argv[1]).read()}
json.dump(cfg, open(sys.argv[2], "w"))
PY
printf 'In the beginning\nAnd the earth was\n' | "$ironmill" chat --model "$model" --max-tokens 6 --temperature 0 \
  --print-prompt > "$tmp/out" 2> "$tmp/err"
python3 - "$src/tests/engine/data" "$tmp/out" "$tmp/err" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import regenerate_chat_templates as rc
tmpl = rc.environment().from_string(open(sys.argv[1] + "/chat_templates/chatml_style.jinja").read())
out = open(sys.argv[2], encoding="utf-8").read()  # reply 1, newline, reply 2, newline
turns = [json.loads(l[len("prompt: "):]) for l in open(sys.argv[3], encoding="utf-8").read().replace("> ", "\n").split("\n")
         if l.startswith("prompt: ")]
assert len(turns) == 2, "expected 2 prompt lines, got %d" % len(turns)
for t in turns:
    want = tmpl.render(messages=t["messages"], add_generation_prompt=True, bos_token="<|endoftext|>",
                       eos_token="<|endoftext|>")
    if t["prompt"] != want:
        print("turn", t["turn"], "prompt", repr(t["prompt"]), "\njinja2", repr(want))
        sys.exit(1)
    assert t["cached_tokens"] + t["new_tokens"] == t["prompt_tokens"], t
t1, t2 = turns
assert [m["role"] for m in t2["messages"]] == ["user", "assistant", "user"], t2["messages"]
reply1 = t2["messages"][1]["content"]
assert reply1 and out.startswith(reply1 + "\n") and out.count("\n") >= 2, (reply1, out)
assert t1["cached_tokens"] == 0, t1
assert 0 < t2["cached_tokens"] and t2["new_tokens"] < t2["prompt_tokens"], t2
print("chat prompts equal jinja2's; turn 2 fed %d of %d tokens (%d cached); reply 1 %r" %
      (t2["new_tokens"], t2["prompt_tokens"], t2["cached_tokens"], reply1))
PY
