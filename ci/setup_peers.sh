#!/usr/bin/env bash
# Fetches llama.cpp through npm (node-llama-cpp ships its full source as a git bundle) and builds only
# ggml (ggml-base + ggml-cpu, static, GGML_NATIVE=OFF so results do not depend on this CPU; ggml-base,
# which holds the reference quantizers llama-quantize uses, never gets -march flags anyway). Idempotent:
# each step is skipped when its output already exists. The version is pinned so the oracle is stable
# (node-llama-cpp 3.22.1 bundles llama.cpp de3ff815, ggml 0.25.1); override with NODE_LLAMA_CPP_VERSION. The GGUF oracle test links these libraries
# (tests/formats/oracle/); CMake looks for them under peers/llama.cpp/build-ggml at configure time.
# The same build dir also holds llama.cpp's `llama` library (lib/libllama.a, static, with libggml.a) and the
# `llama-tokenize` and `llama-perplexity` tools (bin/), used by the tokenizer cross-check, the GGUF export
# oracle test and the perplexity cross-check. GGML_NATIVE=OFF keeps them portable (slower than -march=native).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PEERS="$ROOT/peers"
JOBS="${JOBS:-2}"
VERSION="${NODE_LLAMA_CPP_VERSION:-3.22.1}"
mkdir -p "$PEERS"
cd "$PEERS"

BUNDLE="$PEERS/node_modules/node-llama-cpp/llama/gitRelease.bundle"
if [ ! -f "$BUNDLE" ]; then
  command -v npm >/dev/null || { echo "setup_peers: npm not found (node-llama-cpp ships llama.cpp's source)" >&2; exit 1; }
  echo "setup_peers: npm install node-llama-cpp (no optional binaries)"
  [ -f package.json ] || npm init -y >/dev/null
  npm install --omit=optional --no-audit --no-fund "node-llama-cpp@$VERSION" "@node-llama-cpp/linux-x64@$VERSION"
fi

# onnxruntime (bench/peers/onnx_node_tests_peer.py): --ignore-scripts, its install script downloads from an
# unreachable host; the npm package already ships libonnxruntime.so.
if [ ! -d "$PEERS/node_modules/onnxruntime-node" ]; then
  echo "setup_peers: npm install onnxruntime-node (--ignore-scripts)"
  npm install --ignore-scripts --no-audit --no-fund onnxruntime-node@1.30.0
fi

if [ ! -d "$PEERS/llama.cpp/.git" ]; then
  echo "setup_peers: cloning llama.cpp from $BUNDLE"
  rm -rf "$PEERS/llama.cpp"
  git -c advice.detachedHead=false clone --quiet "$BUNDLE" "$PEERS/llama.cpp"
fi
echo "setup_peers: llama.cpp at $(git -C "$PEERS/llama.cpp" rev-parse HEAD)"

BUILD="$PEERS/llama.cpp/build-ggml"
configure() {
  # Configured from the llama.cpp root (its ggml/ folder is not a standalone project: no ggml.pc.in).
  # Only what we need: ggml, llama, common (the tools need it), the tools; no tests, examples, server,
  # network or OpenMP (the oracle is single-threaded). Re-running it with the same options rebuilds nothing.
  cmake -S "$PEERS/llama.cpp" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF -DGGML_OPENMP=OFF -DGGML_LLAMAFILE=OFF -DGGML_CCACHE=OFF \
        -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
        -DLLAMA_BUILD_MTMD=OFF -DLLAMA_LLGUIDANCE=OFF \
        -DCMAKE_ARCHIVE_OUTPUT_DIRECTORY="$BUILD/lib" -DCMAKE_RUNTIME_OUTPUT_DIRECTORY="$BUILD/bin" \
        -DCMAKE_POSITION_INDEPENDENT_CODE=ON >/dev/null
}
# `--bench` (only when asked): a second, NATIVE build (-march=native, what llama.cpp users get) of
# llama-bench for bench/peers/llama_bench.sh; the portable build-ggml above would be an unfair speed peer.
build_native_bench() {
  local NB="$PEERS/llama.cpp/build-native"
  if [ ! -x "$NB/bin/llama-bench" ]; then
    echo "setup_peers: building native llama-bench in $NB (-j$JOBS)"
    cmake -S "$PEERS/llama.cpp" -B "$NB" -G Ninja -DCMAKE_BUILD_TYPE=Release \
          -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON -DGGML_OPENMP=OFF -DGGML_CCACHE=OFF \
          -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_EXAMPLES=OFF \
          -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
          -DLLAMA_BUILD_MTMD=OFF -DLLAMA_LLGUIDANCE=OFF -DCMAKE_RUNTIME_OUTPUT_DIRECTORY="$NB/bin" >/dev/null
    cmake --build "$NB" -j"$JOBS" --target llama-bench
  fi
  ls -l "$NB/bin/llama-bench"
}
if [ "${1:-}" = "--bench" ]; then build_native_bench; echo "setup_peers: done"; exit 0; fi

NEED=("$BUILD/lib/libggml-base.a" "$BUILD/lib/libggml-cpu.a" "$BUILD/lib/libggml.a" "$BUILD/lib/libllama.a"
      "$BUILD/bin/llama-tokenize" "$BUILD/bin/llama-perplexity")
missing=0
for f in "${NEED[@]}"; do [ -f "$f" ] || missing=1; done
if [ "$missing" = 1 ]; then
  echo "setup_peers: building ggml-base ggml-cpu ggml llama llama-tokenize llama-perplexity (-j$JOBS; ~4 min on 2 cores)"
  configure
  cmake --build "$BUILD" -j"$JOBS" --target ggml-base ggml-cpu ggml llama llama-tokenize llama-perplexity
fi
ls -l "${NEED[@]}"
echo "setup_peers: done"
