#!/usr/bin/env bash
# The GPU checklist (shared/GPU_CHECKLIST.md) in one run, for a lent GPU machine that has no network.
#
# What: environment, SynthRooms data, ops parity on CUDA, bench/ops.py, PointNeXt-S/-B throughput,
# smoke BYOL pre-training (bf16), a torchrun pre-training SIGKILLed part way and resumed, smoke probes,
# then (GPU_CHECK_QUICK=1) the quick profile's headline arms with wall times, all before a deadline.
# Why one script: device time is short and each machine start costs minutes, so everything runs in
# one call, every step under `timeout`, and a failing step never stops the ones after it.
#
# Python: the machine's own python3 (CUDA torch) plus the import-time packages it lacks, carried as
# wheels in .whl/ (fpsample, plyfile, plotly at requirements.txt's pins). fpsample 1.0.2 has no
# manylinux wheel: .whl/ holds one built for cp312 and its sdist, built there if the wheel does not
# import. Offline, requirements.txt itself cannot be installed. Device call, from the repo root:
#     carry [".whl"], command "bash bench/gpu_check.sh", timeout_s 570
# Logs (tee'd to stdout too) and summary.json land in $OUT: 7 files at most.
# Knobs: GPU_CHECK_QUICK=0 skips the quick arms; GPU_CHECK_DEADLINE (s, default 465) ends the run;
# GPU_CHECK_DEVICE=cpu with GPU_CHECK_PYTHON=.venv/bin/python is a tiny-size dry run on a CPU machine.
set -u

T0=$(date +%s)
PY=${GPU_CHECK_PYTHON:-python3}
DEV=${GPU_CHECK_DEVICE:-cuda}
QUICK=${GPU_CHECK_QUICK:-1}
DEADLINE=${GPU_CHECK_DEADLINE:-465}
SCENES=${GPU_CHECK_SCENES:-24}
OUT=${OUT:-/tmp/gpu_check_out}
WORK=/tmp/gpu_check
DATA=$WORK/data/processed
RUNS=$WORK/runs
STEPS=$WORK/steps.tsv
DDP_STEPS=16     # torchrun pre-training length (smoke preset, checkpoint every 2 steps)
KILL_AT=5        # SIGKILL once this many steps are logged
QUICK_RESERVE=80 # seconds kept after the quick pre-training for the random and scratch probes
L1=$OUT/01_setup.log L2=$OUT/02_data.log L3=$OUT/03_ops.log L4=$OUT/04_throughput.log
L5=$OUT/05_smoke.log L6=$OUT/06_quick.log
export PYTHONUNBUFFERED=1 TQDM_MININTERVAL=5 PY DEV DATA RUNS DDP_STEPS

rm -rf "$WORK" && mkdir -p "$WORK" "$RUNS" "$OUT"
if [ "$DEV" = cpu ]; then # plumbing dry run on a CPU machine: tiny sizes
    PARITY_ARGS=(--points 2000) OPS_ARGS=(--points 4000 --samples 1000 --repeats 1)
    TPUT_ARGS=(--batch 2 --points 2000 --warmup 1 --iters 1 --models S --precisions bf16)
else
    PARITY_ARGS=() OPS_ARGS=() TPUT_ARGS=()
fi

elapsed() { echo $(($(date +%s) - T0)); }
count_lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
end_line() { if [ -n "$(tail -c 1 "$1" 2>/dev/null)" ]; then echo | tee -a "$1"; fi; } # after progress bars
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(basename "$4")" >>"$STEPS"; } # name rc seconds log

# run_step NAME LOG CAP CMD...: CMD under `timeout min(CAP, time to the deadline)`, output to LOG and
# stdout, rc and wall time to $STEPS. Skipped when fewer than MIN_LEFT (default 10) seconds remain.
run_step() {
    local name=$1 log=$2 cap=$3 left t0 rc dt
    shift 3
    left=$((DEADLINE - $(elapsed)))
    if ((left < ${MIN_LEFT:-10} || cap < 1)); then
        echo "=== [$name] skipped: ${left}s left before the ${DEADLINE}s deadline" | tee -a "$log"
        record "$name" skipped 0 "$log"
        return 0
    fi
    ((cap > left)) && cap=$left
    echo "=== [$name] $(date -u +%FT%TZ) t=$(elapsed)s limit=${cap}s: $*" | tee -a "$log"
    t0=$(date +%s.%N)
    timeout -k 10 "$cap" "$@" </dev/null 2>&1 | tee -a "$log"
    rc=${PIPESTATUS[0]}
    dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    end_line "$log"
    echo "=== [$name] rc=$rc wall=${dt}s$( ((rc == 124 || rc == 137)) && echo ' (timed out)')" | tee -a "$log"
    record "$name" "$rc" "$dt" "$log"
    return "$rc"
}

env_report() { # exit status 1 when torch, the imports or nvidia-smi fail
    local rc=0
    date -u +%FT%TZ
    echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
    uname -a
    echo "cpus: $(nproc)"
    free -g | head -2
    "$PY" -c 'import torch; print(torch.__version__, torch.version.cuda)' || rc=1
    "$PY" -c 'import sys, torch
ok = torch.cuda.is_available()
print("python", sys.version.split()[0], "| cuda available", ok)
if ok:
    print("gpu", torch.cuda.get_device_name(0), "| capability", torch.cuda.get_device_capability(0),
          "| bf16", torch.cuda.is_bf16_supported(), "| nccl", torch.cuda.nccl.version())' || rc=1
    "$PY" -c 'import fpsample, plyfile, plotly, numpy, scipy, byol3d.ops, byol3d.pretrain, byol3d.probe
from byol3d.ops import pointops_backend
print("imports ok | fpsample", fpsample.__version__, "| plotly", plotly.__version__, "| numpy", numpy.__version__,
      "| scipy", scipy.__version__, "| pointops", pointops_backend.available())' || rc=1
    nvidia-smi || rc=1
    return $rc
}
export -f env_report

# bench/train_step.py may not exist yet; pass --device when it takes one.
train_step_bench() {
    local args=()
    grep -q -- '--device' bench/train_step.py && args=(--device "$DEV")
    "$PY" bench/train_step.py "${args[@]}"
}
export -f train_step_bench

pretrain() { "$PY" -m byol3d.pretrain --data "$DATA" --device "$DEV" "$@"; }
torchrun1() { "$PY" -m torch.distributed.run --standalone --nproc_per_node=1 -m byol3d.pretrain --data "$DATA" --device "$DEV" "$@"; }
probe() { "$PY" -m byol3d.probe --data "$DATA" --device "$DEV" "$@"; }
export -f pretrain torchrun1 probe

# SIGKILL a process and all its descendants, found in /proc (torchrun starts its workers in new
# sessions, so killing torchrun's process group would leave the worker training on).
kill_tree() {
    "$PY" - "$1" <<'EOF'
import os, signal, sys
from pathlib import Path
parent = {}
for proc in Path("/proc").iterdir():
    try:
        parent[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (ValueError, OSError):
        continue
tree, grown = {int(sys.argv[1])}, True
while grown:
    new = {pid for pid, ppid in parent.items() if ppid in tree} - tree
    tree, grown = tree | new, bool(new)
for pid in tree:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
print("SIGKILL sent to", len(tree), "processes")
EOF
}

# torchrun pre-training killed with SIGKILL (torchrun and its worker) once KILL_AT steps are logged.
ddp_kill() {
    local metrics=$RUNS/ddp/metrics.jsonl pid rc t0 polls=0 max_polls=$(((DEADLINE - $(elapsed) - 60) * 5))
    ((max_polls > 600)) && max_polls=600 # 0.2 s each: at most 2 minutes, and a minute left to resume
    if ((max_polls < 150)); then
        echo "=== [ddp_kill] skipped: too close to the deadline" | tee -a "$L5"
        record ddp_kill skipped 0 "$L5"
        return
    fi
    echo "=== [ddp_kill] $(date -u +%FT%TZ) t=$(elapsed)s: torchrun, SIGKILL after $KILL_AT steps" | tee -a "$L5"
    t0=$(date +%s)
    timeout -s KILL 300 bash -c 'torchrun1 --config smoke --steps '"$DDP_STEPS"' --out '"$RUNS/ddp" \
        </dev/null > >(tee -a "$L5") 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null && (($(count_lines "$metrics") < KILL_AT && polls < max_polls)); do
        sleep 0.2
        polls=$((polls + 1))
    done
    end_line "$L5"
    kill_tree "$pid" | tee -a "$L5"
    wait "$pid"
    rc=$?
    echo "=== [ddp_kill] rc=$rc (137 = killed as planned) with $(count_lines "$metrics") steps logged," \
        "checkpoint: $(ls "$RUNS/ddp/checkpoints" 2>/dev/null)" | tee -a "$L5"
    record ddp_kill "$rc" "$(($(date +%s) - t0))" "$L5"
}

# The resumed torchrun run must hold each step 1..DDP_STEPS once, and its encoder.
ddp_verify() {
    "$PY" - "$RUNS/ddp" "$DDP_STEPS" <<'EOF'
import json, sys
from pathlib import Path
run, total = Path(sys.argv[1]), int(sys.argv[2])
steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
ok = steps == list(range(1, total + 1)) and (run / "encoder.pt").is_file()
print("steps", steps, "| encoder.pt", (run / "encoder.pt").is_file(), "|", "OK" if ok else "MISMATCH")
sys.exit(0 if ok else 1)
EOF
}
export -f ddp_verify

# A probe arm that needs an encoder is skipped (and recorded) when its pre-training did not finish.
probe_with() {
    local name=$1 log=$2 encoder=$3
    shift 3
    if [ -f "$encoder" ]; then
        run_step "$name" "$log" 300 bash -c 'probe "$@"' probe "$@" --checkpoint "$encoder"
    else
        echo "=== [$name] skipped: no $encoder" | tee -a "$log"
        record "$name" "skipped (no encoder)" 0 "$log"
    fi
}

write_summary() {
    timeout 60 "$PY" - "$STEPS" "$RUNS" "$OUT/summary.json" "$(elapsed)" "$L3" "$L4" <<'EOF'
"""summary.json: every step's exit code and wall time, run results, the JSON lines of the bench logs."""
import json, statistics, sys, time
from pathlib import Path
steps_tsv, runs, out, total = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
steps = [dict(zip(("step", "rc", "seconds", "log"), line.split("\t")))
         for line in steps_tsv.read_text().splitlines()] if steps_tsv.exists() else []
pretrain, probes = {}, {}
for run in sorted(p for p in runs.iterdir() if p.is_dir()):
    if (run / "metrics.jsonl").exists():
        rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if l.strip()]
        pretrain[run.name] = {"steps": len(rows), "encoder": (run / "encoder.pt").exists(),
                              "median_step_s": statistics.median([r["seconds"] for r in rows]) if rows else None,
                              "last": rows[-1] if rows else None}
    if (run / "metrics.json").exists():
        m = json.loads((run / "metrics.json").read_text())
        probes[run.name] = {k: m.get(k) for k in ("method", "miou", "macc", "oa", "seconds")}
def json_lines(path):
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            yield json.loads(line)
        except ValueError:
            continue  # log text, not a result line
bench = {Path(log).name: list(json_lines(Path(log))) for log in sys.argv[5:]}
expected = {("ddp_kill", "137")}  # the planned SIGKILL
bad = [s for s in steps if s["rc"] != "0" and (s["step"], s["rc"]) not in expected and not s["rc"].startswith("skipped")]
summary = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "total_s": total,
           "failed": [s["step"] for s in bad if s["rc"] not in ("124", "137")],
           "timed_out": [s["step"] for s in bad if s["rc"] in ("124", "137")],
           "skipped": [s["step"] for s in steps if s["rc"].startswith("skipped")], "steps": steps, "pretrain": pretrain, "probes": probes, "bench": bench}
out.write_text(json.dumps(summary, indent=1))
print(json.dumps({k: summary[k] for k in ("total_s", "failed", "timed_out", "skipped", "probes")}, indent=1))
EOF
}

# 1. Carried wheels, then the environment.
run_step wheels "$L1" 120 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
export PYTHONPATH=$PWD/lib:/tmp/site
if ! "$PY" -c 'import fpsample' 2>/dev/null; then # the wheel was built on another system: build it here
    run_step fpsample_build "$L1" 120 "$PY" -m pip install -q --no-index --no-deps --no-build-isolation \
        --no-cache-dir --upgrade --target /tmp/site .whl/fpsample-*.tar.gz
fi
run_step env "$L1" 60 bash -c env_report

# 2. SynthRooms data, in the background while the GPU benches of steps 3-5 run (logged to its own file).
(
    run_step synthrooms "$L2" 300 "$PY" -m byol3d.data.synthrooms --out "$WORK/data/raw" --scenes "$SCENES" --seed 0
    run_step preprocess "$L2" 200 "$PY" -m byol3d.data.preprocess --scannet-root "$WORK/data/raw" --out "$DATA" --workers 8
) >/dev/null &
DATA_PID=$!

# 3-4. Ops parity (torch backend on CUDA vs cpu backend), bench/ops.py, bench/train_step.py if present.
run_step parity "$L3" 150 "$PY" bench/gpu_parity.py --device "$DEV" "${PARITY_ARGS[@]}"
run_step bench_ops "$L3" 150 "$PY" bench/ops.py --device "$DEV" "${OPS_ARGS[@]}"
if [ -f bench/train_step.py ]; then
    run_step train_step "$L3" 150 bash -c train_step_bench
else
    echo "=== [train_step] bench/train_step.py does not exist: nothing to run" | tee -a "$L3"
fi

# 5. PointNeXt-S/-B throughput, 16 x 15,000 points, fp32 and bf16, train and inference.
run_step throughput "$L4" 200 "$PY" bench/gpu_throughput.py --device "$DEV" --warmup 2 --iters 3 "${TPUT_ARGS[@]}"

# 6. Smoke pre-training (bf16 autocast on CUDA), torchrun killed then resumed, smoke probes.
wait "$DATA_PID"
grep -h '^=== .*rc=' "$L2" | sed 's/^=== /=== data: /' | tee -a "$L5"
run_step smoke_pretrain "$L5" 150 bash -c 'pretrain "$@"' pretrain --config smoke --out "$RUNS/smoke"
cat "$RUNS/smoke/metrics.jsonl" "$RUNS/smoke/config.yaml" 2>/dev/null | grep -E '^(\{|amp|device)' | tee -a "$L5"
ddp_kill
run_step ddp_resume "$L5" 150 bash -c 'torchrun1 "$@"' torchrun1 --config smoke --steps "$DDP_STEPS" \
    --out "$RUNS/ddp" --resume
run_step ddp_verify "$L5" 30 bash -c ddp_verify
probe_with smoke_linear "$L5" "$RUNS/smoke/encoder.pt" --method linear --config smoke --out "$RUNS/smoke_linear"
run_step smoke_scratch "$L5" 150 bash -c 'probe "$@"' probe --method scratch --config smoke --out "$RUNS/smoke_scratch"

# 7. The quick profile's headline arms (README table), each timed, while time is left. The pre-training
# leaves QUICK_RESERVE seconds so that the arms without an encoder (random, scratch) still run when it
# is cut short; its metrics.jsonl then still gives the GPU step time.
if [ "$QUICK" != 0 ]; then
    MIN_LEFT=150 run_step quick_pretrain "$L6" $((DEADLINE - $(elapsed) - QUICK_RESERVE)) bash -c 'pretrain "$@"' \
        pretrain --config quick --out "$RUNS/quick"
    MIN_LEFT=30 probe_with quick_linear "$L6" "$RUNS/quick/encoder.pt" --method linear --config quick \
        --out "$RUNS/quick_linear"
    for method in random scratch; do
        MIN_LEFT=30 run_step "quick_$method" "$L6" 300 bash -c 'probe "$@"' probe --method "$method" \
            --config quick --out "$RUNS/quick_$method"
    done
    MIN_LEFT=30 probe_with quick_finetune "$L6" "$RUNS/quick/encoder.pt" --method finetune --config quick \
        --out "$RUNS/quick_finetune"
else
    echo "=== [quick] skipped: GPU_CHECK_QUICK=0" | tee -a "$L6"
fi

write_summary | tee -a "$L6"
echo "=== gpu_check done in $(elapsed)s; files in $OUT: $(cd "$OUT" && echo *)"
