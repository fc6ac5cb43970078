#!/usr/bin/env bash
# Installs every build and test dependency from Debian 12 packages. Idempotent.
set -euo pipefail
PKGS=(build-essential cmake ninja-build pkg-config
      libgtest-dev libgmock-dev libbenchmark-dev
      libprotobuf-dev protobuf-compiler nlohmann-json3-dev
      libeigen3-dev libopenblas-dev
      libonnx-dev python3-onnx
      python3-numpy python3-torch python3-protobuf
      libsentencepiece-dev sentencepiece)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
