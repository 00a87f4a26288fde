#!/usr/bin/env bash
# The GPU figures results/bench/ still lacks, as one run that fits a device lease (15 minutes):
# ResNet-50 vs SE-ResNet-50 at 224 px in bf16, eager and compiled, with the profile of where SE's
# time goes; and the fixed cost of 8 small trials sharing the GPU. On the GPU machine:
#   source .gpu/prelude.sh && bash benchmarks/gpu.sh "$OUT"
# Each benchmark has its own time limit, so one that hangs leaves the others' figures.
set -uo pipefail
out=${1:?give the folder to write the figures to}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.txt"
timeout 420 python3 -m se_train.cli bench model --image-size 224 --batch-size 128 --compile --profile > "$out/bench-model.txt" 2>&1
timeout 240 python3 -m se_train.cli bench overhead --gpu --trials 8 --concurrent 8 > "$out/bench-overhead.txt" 2>&1
tail -n 40 "$out"/*.txt
