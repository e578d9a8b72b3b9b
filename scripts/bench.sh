#!/usr/bin/env bash
# `make bench`: the NER step timed by `duet bench` at seq 16, 40 and 128 (batch 32),
# eager and graph alternated in rounds, and, when Debian's PyTorch is installed, the
# PyTorch peer in the same rounds (eager and jit.trace), then inference at 40 and 128.
# Usage: scripts/bench.sh BUILD_DIR. Environment: PYTHON (default /usr/bin/python3, the
# interpreter Debian's python3-torch installs into), DUET_PEERS (the peers' directory,
# default ../shared/peers beside the source tree), BENCH_FLAGS (more duet bench flags,
# e.g. "--rounds 5 --steps 200"), BENCH_THREADS (default 2).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: scripts/bench.sh BUILD_DIR}
python=${PYTHON:-/usr/bin/python3}
peers=${DUET_PEERS:-$src/../shared/peers}
# torch_ner_infer.py imports the model from here; canonical, so the output names it plainly
DUET_PEERS=$(cd "$peers" 2>/dev/null && pwd || echo "$peers")
export DUET_PEERS
threads=${BENCH_THREADS:-2}
step_peer=$DUET_PEERS/torch_ner_step.py

train_peer=() infer_peer=()
if [ ! -r "$step_peer" ]; then
    echo "bench: no PyTorch peer at $step_peer (set DUET_PEERS to its directory): duet only" >&2
elif ! "$python" -c "import torch" 2>/dev/null; then
    echo "bench: $python cannot import torch: duet only. For the PyTorch columns, on Debian:" >&2
    echo "bench:   apt-get install -y python3-torch libopenblas0-pthread" >&2
    echo "bench: (without libopenblas0-pthread, torch runs on the slow reference BLAS)" >&2
else
    train_peer=(--peer "$step_peer" --python "$python")
    infer_peer=(--peer "$src/scripts/torch_ner_infer.py" --python "$python")
fi

# shellcheck disable=SC2086 # BENCH_FLAGS is a list of flags
"$build/duet" bench ner --seq 16,40,128 --batch 32 --threads "$threads" "${train_peer[@]}" \
    --json "$build/bench-train.json" ${BENCH_FLAGS:-}
echo
# shellcheck disable=SC2086
"$build/duet" bench ner --infer --seq 40,128 --batch 32 --threads "$threads" "${infer_peer[@]}" \
    --json "$build/bench-infer.json" ${BENCH_FLAGS:-}
echo
echo "bench: JSON in $build/bench-train.json and $build/bench-infer.json"
