#!/bin/sh
# ironmill compile --runtime gpu, then ironmill generate on the .ironml-gpu bundle of kjv-llama-5m at
# temperature 0 prints Hugging Face's greedy_text (golden/kjv-llama-5m/golden.json) followed by a newline;
# the same for a bundle compiled from an F16 GGUF export (its tokenizer read from the bundle's tokenizer.gguf).
# usage: generate_bundle_cli_test.sh IRONMILL SOURCE_DIR
set -eu
ironmill=$1
dir=$2/golden/kjv-llama-5m
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$ironmill" compile "$dir" --runtime gpu -o "$tmp/kjv.ironml-gpu"
"$ironmill" export-gguf "$dir" -o "$tmp/kjv-f16.gguf" --type f16 --quiet
"$ironmill" compile "$tmp/kjv-f16.gguf" --runtime gpu -o "$tmp/kjv-f16.ironml-gpu"
n=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['greedy_ids']))" "$dir/golden.json")
prompt=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['prompt'])" "$dir/golden.json")
for b in kjv kjv-f16; do
  "$ironmill" generate --model "$tmp/$b.ironml-gpu" --prompt "$prompt" --max-tokens "$n" --temperature 0 > "$tmp/out"
  python3 - "$dir/golden.json" "$tmp/out" "$b" <<'PY'
import json, sys
want = json.load(open(sys.argv[1]))["greedy_text"] + "\n"
got = open(sys.argv[2], encoding="utf-8").read()
if got != want:
    print("ironmill generate (bundle %s) printed" % sys.argv[3], repr(got), "\nexpected", repr(want))
    sys.exit(1)
print("greedy_text matches through the %s bundle:" % sys.argv[3], repr(got[:40]), "...")
PY
done
