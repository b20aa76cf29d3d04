#!/usr/bin/env bash
# Lab experiment on a lent GPU: the quick profile's supervised (scratch) arm trained far past the CPU
# report's budget, to see where its learning curve flattens (reports/experiments.md, E-GPU).
# Device call from the repo root: carry [".whl"], command "bash bench/lab/gpu_curve.sh", timeout_s 300.
# Writes $OUT/curve.jsonl (one JSON line per evaluation, streamed, so a run cut short still reports).
set -u
STEPS=${CURVE_STEPS:-600}
OUT=${OUT:-/tmp/gpu_curve_out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=$PWD/lib:/tmp/site PYTHONUNBUFFERED=1 TQDM_DISABLE=1
T0=$(date +%s)
python3 -m byol3d.data.synthrooms --out /tmp/curve/raw --scenes 40 --seed 0 --workers 16 >/dev/null
python3 -m byol3d.data.preprocess --scannet-root /tmp/curve/raw --out /tmp/curve/processed --workers 16 >/dev/null
echo "{\"data_seconds\": $(($(date +%s) - T0))}" | tee "$OUT/curve.jsonl"
python3 bench/lab/supervised_curve.py --data /tmp/curve/processed --config quick --steps "$STEPS" --every 150 \
    --device cuda 2>"$OUT/curve.err" | tee -a "$OUT/curve.jsonl"
