#!/usr/bin/env bash
# SLURM integration test: a real single-node cluster (scripts/slurm-local.sh) runs a 4-run sweep as a
# job array; one task is requeued in the middle of its run (SIGTERM, checkpoint, exit 75, requeue)
# and resumes; `sim collect` then finds every run complete, and the requeued run's result file
# equals the same run made in one piece, dataset for dataset. A chained fine-tuning sweep
# (train.init_from = sweep:DIR), submitted at once with `sim slurm --after JOB --submit`, runs only
# after the whole first array, each run from the first sweep's run of its seed.
#
# Usage (root): tests/slurm/integration.sh [path/to/sim]     (~1-2 minutes)
set -euo pipefail
cd "$(dirname "$0")/../.."
SIM=$(realpath "${1:-build/sim}")
WORK=$(mktemp -d /tmp/attnsim-slurm-test.XXXXXX)
export ATTNSIM_SLURM_DIR=$WORK/cluster
export SLURM_CONF=$ATTNSIM_SLURM_DIR/slurm.conf
fail() { echo "FAIL: $*" >&2; exit 1; }
cleanup() { scripts/slurm-local.sh stop >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT

scripts/slurm-local.sh install
scripts/slurm-local.sh start

cat > "$WORK/sweep.ini" <<'INI'
[task]
name = mqar
vocab = 64
length = 32
pairs = 6
queries = 6
[model]
layers = 2
heads = 2
d_model = 32
d_mlp = 0
[train]
steps = 1500
eval_every = 50
batch = 32
lr = 3e-3
[eval]
size = 200
batch = 200
[sweep]
seed = 0..3
INI
OUT="$WORK/runs dir"   # a space: paths are quoted in the script
"$SIM" slurm --config "$WORK/sweep.ini" --out-dir "$OUT" --cpus 1 --time 00:10:00 --mem 500M > "$WORK/slurm.txt"
job=$(sbatch --parsable "$OUT/sweep.sbatch")
echo "submitted array job $job"

# The fine-tuning sweep, submitted now: it waits for every task of the first array (afterok).
cat > "$WORK/finetune.ini" <<INI
[task]
name = mqar
vocab = 64
length = 32
pairs = 6
queries = 6
[model]
layers = 2
heads = 2
d_model = 32
d_mlp = 0
[train]
steps = 30
eval_every = 10
batch = 32
init_from = sweep:$OUT
[eval]
size = 200
batch = 200
[sweep]
seed = 3, 2, 1, 0
INI
FT="$WORK/fine \"tune\" it's %j"   # quotes and a %: quoted (and %% in --output)
"$SIM" slurm --config "$WORK/finetune.ini" --out-dir "$FT" --cpus 1 --time 00:10:00 --mem 500M --after "$job" --submit \
  > "$WORK/slurm-ft.txt"
grep -q "dependency=afterok:$job" "$FT/sweep.sbatch" || fail "no dependency in $FT/sweep.sbatch"
ft_job=$(sed -n 's/^submitted job //p' "$WORK/slurm-ft.txt")
[[ $ft_job =~ ^[0-9]+$ ]] || { cat "$WORK/slurm-ft.txt"; fail "sim slurm --submit printed no job id"; }
echo "submitted the chained array job $ft_job after $job"

# Wait until task 0 is well into training, then requeue it (SLURM sends SIGTERM, sim checkpoints).
log0=$OUT/logs/${job}_0.out
for _ in $(seq 240); do
  grep -q "step 300/1500" "$log0" 2>/dev/null && break
  sleep 0.5
done
grep -q "step 300/1500" "$log0" || { cat "$log0" 2>/dev/null; fail "task 0 did not reach step 300"; }
scontrol requeue "${job}_0"
echo "requeued ${job}_0"
for _ in $(seq 60); do  # release it as soon as SLURM holds it again
  scontrol update jobid="${job}_0" StartTime=now 2>/dev/null && break
  sleep 1
done

for _ in $(seq 600); do
  [[ -z $(squeue -h -j "$job" 2>/dev/null) ]] && break
  sleep 1
done
[[ -z $(squeue -h -j "$job" 2>/dev/null) ]] || { squeue; fail "array job still running after 10 minutes"; }

grep -q "exited with 75" "$log0" || { cat "$log0"; fail "task 0 was not interrupted with exit 75"; }
grep -q "resuming from" "$log0" || { cat "$log0"; fail "task 0 did not resume from its checkpoint"; }
"$SIM" collect "$OUT" --out "$WORK/summary.h5" || fail "sim collect reported missing runs"

# Every run complete, and run 0 identical to an uninterrupted run of the same configuration.
"$SIM" sweep --config "$WORK/sweep.ini" --out-dir "$WORK/ref" --index 0 --quiet
/usr/bin/python3 - "$WORK/summary.h5" "$OUT" "$WORK/ref" <<'PY'
import h5py, sys, os, numpy as np
summary, out, ref = sys.argv[1:]
with h5py.File(summary) as f:
    status = [s.decode() for s in f["runs/status"][()]]
    assert status == ["complete"] * 4, status
    files = [s.decode() for s in f["runs/file"][()]]
def datasets(path):
    d = {}
    with h5py.File(path) as f:
        f.visititems(lambda n, o: d.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return d
a, b = datasets(os.path.join(out, files[0])), datasets(os.path.join(ref, files[0]))
assert a.keys() == b.keys(), (sorted(a), sorted(b))
for k in a:
    assert np.array_equal(np.asarray(a[k]), np.asarray(b[k])), k
print("run 0 after requeue equals the uninterrupted run:", len(a), "datasets")
PY

# The chained array: it ran after the first one, each run from the source run of its seed.
for _ in $(seq 300); do
  [[ -z $(squeue -h -j "$ft_job" 2>/dev/null) ]] && break
  sleep 1
done
[[ -z $(squeue -h -j "$ft_job" 2>/dev/null) ]] || { squeue; fail "chained array job still queued or running"; }
"$SIM" collect "$FT" --out "$WORK/summary-ft.h5" || { cat "$FT"/logs/*; fail "the chained sweep has missing runs"; }
/usr/bin/python3 - "$OUT" "$FT" <<'PY'
import h5py, sys, os
out, ft = sys.argv[1:]
def manifest(d):
    rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(d, "manifest.tsv")) if l[0].isdigit()]
    return {r[3]: r[2] for r in rows}  # "train.seed=S" -> file
source, chained = manifest(out), manifest(ft)
assert sorted(source) == sorted(chained), (source, chained)
last_source = max(os.path.getmtime(os.path.join(out, f)) for f in source.values())
for seed, f in chained.items():
    path = os.path.join(ft, f)
    with h5py.File(path) as h:
        config = h.attrs["config"]
        config = config.decode() if isinstance(config, bytes) else config
        assert h.attrs["status"] in ("complete", b"complete"), (f, h.attrs["status"])
    expected = "init_from = " + os.path.join(out, source[seed]) + "\n"
    assert expected in config, (seed, expected, config)
    assert os.path.getmtime(path) > last_source, f
print("chained runs start from the source run of their seed, after the source array:", len(chained), "runs")
PY
echo "PASS: SLURM array sweep with a requeued task, and a chained sweep after it"
