#!/usr/bin/env bash
# Every GPU figure in one short run on a CUDA machine (about 10 min after the build):
#   1. builds `--features cuda` (cubecl-cuda fetches an LLVM bundle once: needs network),
#   2. runs the GPU-against-Flex tests (crates/dtunet/tests/gpu_backend.rs) on the GPU,
#   3. `bench train` at the two benchmark sizes of BENCHMARKS.md and at the paper's size
#      (224 px, patch 16, D 384, depth 6, batch 32, Tsimplex 6 octaves) on cuda, and the two
#      benchmark sizes on flex with all cores, for the ratio,
#   4. the demo's job on the GPU: `synth brain`, `train --preset demo`, `detect`,
# and writes OUT/summary.txt (each command with its figures; the JSON of every bench run
# beside it). Usage: tools/gpu-check.sh [OUT]   (default: gpu-check-<date>)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-check-$(date -u +%Y%m%d-%H%M)}
mkdir -p "$out"
summary="$out/summary.txt"
: > "$summary"
note() { echo "$*" | tee -a "$summary"; }
timed() {  # timed NAME COMMAND...: runs, logs to OUT/NAME.log, notes status and seconds
    local name=$1; shift
    local start=$(date +%s)
    "$@" > "$out/$name.log" 2>&1
    local status=$?
    note "$name: exit $status in $(( $(date +%s) - start )) s   ($*)"
    return $status
}

note "dtunet GPU check, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >> "$summary" 2>&1
nproc | sed 's/^/CPU cores: /' >> "$summary"

timed build cargo build --release --locked -p dtunet-cli --features cuda || exit 1
timed gpu-tests cargo test --release --locked -p dtunet --features cuda --test gpu_backend \
    -- --test-threads 1
grep -E "^test |test result" "$out/gpu-tests.log" >> "$summary"

bin=target/release/dtunet
A="--img-size 64 --patch-size 8 --embed-dim 192 --depth 6 --heads 6 --batch-size 8"
B="--img-size 224 --patch-size 16 --embed-dim 384 --depth 6 --heads 6 --batch-size 4"
P="--img-size 224 --patch-size 16 --embed-dim 384 --depth 6 --heads 6 --batch-size 32"
for size in A B P; do
    for ff in mlp daff; do
        for backend in cuda flex; do
            [ "$size" = P ] && [ "$backend" = flex ] && continue
            name="bench-$size-$ff-$backend"
            timed "$name" $bin bench train ${!size} --ff $ff --backend $backend --json
            cp "$out/$name.log" "$out/$name.json"
            grep -E '"(median_ms|noise_share|prefetched_noise_share)"' "$out/$name.json" \
                | tr -d ' \n' | sed "s/^/  $name /; s/$/\n/" >> "$summary"
        done
    done
done

data="$out/brain-synth"
timed synth $bin synth brain --out "$data" --size 32 --seed 0
timed train $bin train --data "$data" --layout mvtec --preset demo --backend cuda --out "$out/run"
timed detect $bin detect --checkpoint "$out/run" --data "$data" --layout mvtec --backend cuda \
    --samples 4 --out "$out/detect"
grep -E "AUROC|Dice|reconstructed" "$out/detect.log" >> "$summary"
note "done: $summary"
