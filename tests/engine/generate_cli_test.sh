#!/bin/sh
# ironmill generate on kjv-llama-5m at temperature 0 prints Hugging Face's greedy_text
# (golden/kjv-llama-5m/golden.json) followed by a newline.
# usage: generate_cli_test.sh IRONMILL SOURCE_DIR
set -eu
ironmill=$1
dir=$2/golden/kjv-llama-5m
out=$(mktemp)
trap 'rm -f "$out"' EXIT
n=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['greedy_ids']))" "$dir/golden.json")
prompt=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['prompt'])" "$dir/golden.json")
"$ironmill" generate --model "$dir" --prompt "$prompt" --max-tokens "$n" --temperature 0 > "$out"
python3 - "$dir/golden.json" "$out" <<'PY'
import json, sys
want = json.load(open(sys.argv[1]))["greedy_text"] + "\n"
got = open(sys.argv[2], encoding="utf-8").read()
if got != want:
    print("ironmill generate printed", repr(got), "\nexpected", repr(want))
    sys.exit(1)
print("greedy_text matches:", repr(got[:40]), "...")
PY
