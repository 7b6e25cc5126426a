#!/usr/bin/env bash
# The GPU code path on any machine: builds the `wgpu` feature and runs the GPU-against-Flex
# tests (crates/dtunet/tests/gpu_backend.rs: forward passes of DTU-Net MLP/DAFF, U-ViT and
# UNet, a training step's loss and gradients, host-drawn initial weights and noise, the first
# training losses and a short detection). Without a GPU it runs on Mesa's lavapipe, the CPU
# Vulkan driver, installed here when no Vulkan driver is present (Debian/Ubuntu).
#
# Usage: tools/wgpu-check.sh [--lavapipe]   (--lavapipe: use lavapipe even when a GPU is there)
# Cost: a first build of the wgpu feature takes about 30 min on 2 cores; the tests a few
# minutes on lavapipe. CI does not run this (see README, "GPU backends").
set -euo pipefail
cd "$(dirname "$0")/.."

icd_dir=/usr/share/vulkan/icd.d
if ! compgen -G "$icd_dir/*.json" > /dev/null; then
    echo "no Vulkan driver found: installing Mesa's (lavapipe included)"
    sudo_if_needed=""
    [ "$(id -u)" -ne 0 ] && sudo_if_needed="sudo"
    $sudo_if_needed apt-get install -y mesa-vulkan-drivers
fi
if [ "${1:-}" = "--lavapipe" ]; then
    lavapipe=$(compgen -G "$icd_dir/lvp_icd.*.json" | head -n 1)
    export VK_ICD_FILENAMES="$lavapipe"
    echo "Vulkan driver: $lavapipe"
fi

start=$(date +%s)
cargo test --locked -p dtunet --features wgpu --test gpu_backend -- --test-threads 1
echo "wgpu check passed in $(( $(date +%s) - start )) s (build included)"
