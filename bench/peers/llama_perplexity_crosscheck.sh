#!/usr/bin/env bash
# Perplexity cross-check against llama.cpp (issue 5): kjv-llama-5m exported to GGUF by OUR writer, then
#   llama.cpp's llama-perplexity -c 256   (its chunked protocol: floor(N/256) chunks, second halves scored)
#   mill-harness perplexity --protocol chunked:256 on the same GGUF (our GGUF template path)
# on the same text; passes when the two agree within 0.5 % (and prints both, plus HF's golden figure).
#
# usage: llama_perplexity_crosscheck.sh IRONMILL MILL_HARNESS [TYPE=f16] [JSON_OUT]
# Exit 0 agree, 1 disagree, 2 error, 77 skipped (llama-perplexity not built: run bash ci/setup_peers.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
IRONMILL="${1:?ironmill binary}"
HARNESS="${2:?mill-harness binary}"
TYPE="${3:-f16}"
JSON_OUT="${4:-}"
LP="$ROOT/peers/llama.cpp/build-ggml/bin/llama-perplexity"
MODEL="$ROOT/golden/kjv-llama-5m"
TEXT="$MODEL/kjv-test.txt"
TOLERANCE=0.005
if [ ! -x "$LP" ]; then
  echo "SKIP: $LP not built (bash ci/setup_peers.sh builds it from node-llama-cpp's llama.cpp source)"
  exit 77
fi
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
GGUF="$TMP/kjv-llama-5m-$TYPE.gguf"
"$IRONMILL" export-gguf "$MODEL" -o "$GGUF" --type "$TYPE" --quiet || exit 2

# llama.cpp: 2 threads; -b 256 so each chunk is one batch (the default batch also covers it).
"$LP" -m "$GGUF" -f "$TEXT" -c 256 -b 256 -t 2 > "$TMP/llama.log" 2>&1 || { cat "$TMP/llama.log"; exit 2; }
PEER=$(sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p' "$TMP/llama.log")
[ -n "$PEER" ] || { echo "no 'Final estimate' in llama-perplexity output:"; tail -20 "$TMP/llama.log"; exit 2; }

"$HARNESS" perplexity --model "$GGUF" --text "$TEXT" --protocol chunked:256 --json "$TMP/ours.json" \
  > "$TMP/ours.log" 2>&1 || { cat "$TMP/ours.log"; exit 2; }
OURS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ppl"])' "$TMP/ours.json")
HF=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ppl_kjv_test_chunked_ctx256"][0])' "$MODEL/golden.json")

python3 - "$PEER" "$OURS" "$HF" "$TYPE" "$TOLERANCE" "$JSON_OUT" "$(git -C "$ROOT/peers/llama.cpp" rev-parse --short HEAD 2>/dev/null || echo unknown)" <<'PY'
import json, sys
peer, ours, hf, typ, tol, out, rev = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], float(sys.argv[5]), sys.argv[6], sys.argv[7]
rel = abs(ours - peer) / peer
ok = rel <= tol
print(f"kjv-llama-5m {typ} GGUF (our writer), chunked:256 on kjv-test.txt")
print(f"  llama.cpp llama-perplexity ({rev}): {peer:.4f}")
print(f"  ironmill (GGUF template path, reference backend): {ours:.4f}")
print(f"  Hugging Face golden (fp32 SafeTensors): {hf:.4f}")
print(f"  |ours - llama.cpp| / llama.cpp = {rel*100:.4f} % (gate {tol*100:.1f} %): {'AGREE' if ok else 'DISAGREE'}")
if out:
    json.dump({"schema": "ironmill.perplexity-crosscheck/1", "model": "kjv-llama-5m", "gguf_type": typ,
               "protocol": "chunked:256", "llama_cpp": {"ppl": peer, "revision": rev}, "ironmill": {"ppl": ours},
               "huggingface_golden": hf, "relative_difference": rel, "tolerance": tol, "agree": ok},
              open(out, "w"), indent=1)
sys.exit(0 if ok else 1)
PY
