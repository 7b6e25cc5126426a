#!/usr/bin/env bash
# Builds `dtunet` with the LibTorch backend (`--backend tch`).
#
# Burn 0.22.1's burn-tch builds on tch / torch-sys 0.22, whose C++ wrapper compiles against
# libtorch 2.9.0 only (torch 2.13's headers drop `Tensor::align_as` and `torch::align_tensors`,
# which torch-sys 0.22 still wraps). This script puts torch==2.9.0 from PyPI in its own virtual
# environment, builds against it (LIBTORCH_USE_PYTORCH=1) into a separate target folder, and
# records the library folder in the binary's run path, so the result runs without
# LD_LIBRARY_PATH.
#
#   tools/build-tch.sh [VENV_DIR]      # default: .venv-tch (≈ 4 GiB with the CUDA 12.8 wheels)
#   target-tch/release/dtunet bench train --backend tch --threads 2
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv-tch}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
venv="$(cd "$venv" && pwd)"
"$venv/bin/pip" install --quiet torch==2.9.0
torch_lib="$("$venv/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
PATH="$venv/bin:$PATH" LIBTORCH_USE_PYTORCH=1 CARGO_TARGET_DIR=target-tch \
    RUSTFLAGS="-C link-arg=-Wl,-rpath,$torch_lib" \
    cargo build --release --locked -p dtunet-cli --features tch
echo "built target-tch/release/dtunet against $torch_lib"
