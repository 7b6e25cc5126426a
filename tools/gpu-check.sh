#!/usr/bin/env bash
# Every GPU figure in one short run on a GPU machine (about 8 min after the build):
#   1. the GPU-against-Flex tests (crates/dtunet/tests/gpu_backend.rs) on the GPU,
#   2. `bench ops` (attention, depthwise 3x3: dtunet's form against the backend's others) at
#      the paper's size on the GPU and on flex,
#   3. `bench train` at the paper's size (224 px, patch 16, D 384, depth 6, batch 32, Tsimplex
#      6 octaves) and the two sizes of BENCHMARKS.md on the GPU, the two sizes on flex with all
#      cores for the ratio,
#   4. `dtunet demo` on the GPU (synthetic brains, training, detection, report),
# each step bounded by its own time limit, most important first, and writes OUT/summary.txt
# (each command, its exit status, seconds and tables; every log beside it).
#
# Usage: tools/gpu-check.sh [--backend cuda|wgpu] [--bin DIR] [OUT]   (OUT: gpu-check-<date>)
#   --backend  the GPU backend (default cuda; wgpu runs on Vulkan, Metal or DX12).
#   --bin DIR  take DIR/dtunet and DIR/gpu_backend prebuilt with that backend's feature
#              (`tools/gpu-check.sh --build-only DIR` makes them), for a GPU machine without a
#              Rust toolchain or network; otherwise both are built here with cargo (the cuda
#              feature fetches an LLVM bundle from GitHub once: it needs the network).
#   --build-only DIR  build both with the backend's feature into DIR (stripped) and stop.
set -uo pipefail
cd "$(dirname "$0")/.."

backend=cuda
bin_dir=""
build_only=""
while [ $# -gt 0 ]; do
    case "$1" in
        --backend) backend=$2; shift 2 ;;
        --bin) bin_dir=$2; shift 2 ;;
        --build-only) build_only=$2; shift 2 ;;
        *) break ;;
    esac
done
case "$backend" in
    cuda | wgpu) ;;
    *) echo "--backend must be cuda or wgpu, not '$backend'" >&2; exit 2 ;;
esac

# Builds the CLI and the GPU test binary with the backend's feature, copies both into $1.
build_into() {
    local dest=$1
    mkdir -p "$dest"
    cargo build --release --locked -p dtunet-cli --features "$backend" || return 1
    local test_bin
    test_bin=$(cargo test --release --locked -p dtunet --features "$backend" --test gpu_backend \
        --no-run --message-format json \
        | grep -o '"executable":"[^"]*gpu_backend[^"]*"' | tail -n 1 | cut -d'"' -f4)
    [ -n "$test_bin" ] || return 1
    cp target/release/dtunet "$dest/dtunet" && cp "$test_bin" "$dest/gpu_backend" || return 1
    # Stripped, both fit a 64 MiB transfer once gzip'ed (about 21 MB each).
    if command -v strip > /dev/null; then strip "$dest/dtunet" "$dest/gpu_backend"; fi
}

if [ -n "$build_only" ]; then
    build_into "$build_only"
    exit $?
fi

out=${1:-gpu-check-$(date -u +%Y%m%d-%H%M)}
mkdir -p "$out"
summary="$out/summary.txt"
: > "$summary"
note() { echo "$*" | tee -a "$summary"; }
# timed NAME LIMIT COMMAND...: runs under a time limit (s), logs to OUT/NAME.log, notes status
# and seconds.
timed() {
    local name=$1 limit=$2
    shift 2
    local start
    start=$(date +%s)
    timeout "$limit" "$@" > "$out/$name.log" 2>&1
    local status=$?
    note "$name: exit $status in $(( $(date +%s) - start )) s (limit $limit)   ($*)"
    return $status
}

note "dtunet GPU check ($backend), $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >> "$summary" 2>&1
nproc | sed 's/^/CPU cores: /' >> "$summary"

if [ -z "$bin_dir" ]; then
    bin_dir="$out/bin"
    start=$(date +%s)
    if ! build_into "$bin_dir" > "$out/build.log" 2>&1; then
        note "build failed: see $out/build.log"
        exit 1
    fi
    note "build: $(( $(date +%s) - start )) s"
fi
bin="$bin_dir/dtunet"

timed gpu-tests 240 "$bin_dir/gpu_backend" --test-threads 1
grep -E "^test |test result" "$out/gpu-tests.log" >> "$summary"

for device in "$backend" flex; do
    timed "ops-paper-$device" 90 $bin bench ops --batch-size 32 --backend "$device"
    cat "$out/ops-paper-$device.log" >> "$summary"
done

A="--img-size 64 --patch-size 8 --embed-dim 192 --depth 6 --heads 6 --batch-size 8"
B="--img-size 224 --patch-size 16 --embed-dim 384 --depth 6 --heads 6 --batch-size 4"
P="--img-size 224 --patch-size 16 --embed-dim 384 --depth 6 --heads 6 --batch-size 32"
for size in P A B; do
    for ff in mlp daff; do
        for device in "$backend" flex; do
            [ "$size" = P ] && [ "$device" = flex ] && continue
            name="train-$size-$ff-$device"
            timed "$name" 90 $bin bench train ${!size} --ff "$ff" --backend "$device"
            tail -n 8 "$out/$name.log" >> "$summary"
        done
    done
done

timed demo 300 $bin demo --backend "$backend" --out "$out/demo"
grep -E "AUROC|Dice|demo finished" "$out/demo.log" >> "$summary"
note "done: $summary"
