#!/usr/bin/env bash
# The checks of one lent GPU session (issue 21, item 6), as one time-boxed command from the
# repository root of a machine with torch+CUDA, scikit-image, scipy, pandas and numpy:
#   1. torch sees the GPU, `roadmap eval nafnet --fidelity smoke --device "$DEVICE"` runs;
#   2. the main job, `roadmap search --seed nafnet --budget 50 --device "$DEVICE"`, with the local
#      backend (the Ray wheel is larger than what travels to a lent machine), stopped with
#      Ctrl-C after SEARCH_S seconds if it has not finished (a study resumes);
#   3. beside it, benchmarks/device_ranking.py: the 22 candidates' top rung with random seeds 0
#      and 1, then the long reference, on the GPU, RANKING_S seconds at most (runs are cached one
#      by one, so what finished comes back).
# Wheels of missing packages (optuna and its needs, plotly) may wait in .whl/ (see
# ../.library/device/README.md); everything lands in $OUT (default /tmp/gpu-session).
set -u
OUT=${OUT:-/tmp/gpu-session}
SEARCH_S=${SEARCH_S:-420}
RANKING_S=${RANKING_S:-470}
JOBS=${JOBS:-4}
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=$PWD:/tmp/site
fi
{
    date -u
    nvidia-smi -L
    python3 -c "import torch, optuna; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0), 'optuna', optuna.__version__)"
    nproc
    time timeout 120 python3 -m roadmap eval nafnet --fidelity smoke --device "$DEVICE" --json
} >"$OUT/checks.log" 2>&1

study=/tmp/gpu-study
(time timeout -s INT -k 30 "$SEARCH_S" python3 -m roadmap search --seed nafnet --budget 50 --device "$DEVICE" \
    --backend local --study "$study" --json >"$OUT/search.json") 2>"$OUT/search.log" &
search_pid=$!
(time timeout -s INT -k 30 "$RANKING_S" python3 benchmarks/device_ranking.py --device "$DEVICE" --seeds 0 1 --reference \
    --jobs "$JOBS") >"$OUT/ranking.log" 2>&1 &
ranking_pid=$!

wait "$search_pid"
echo "search exit $?" >>"$OUT/search.log"
python3 -m roadmap pareto "$study" --json >"$OUT/pareto.json" 2>>"$OUT/search.log"
python3 -m roadmap pareto "$study" >>"$OUT/search.log" 2>&1
tar czf "$OUT/study.tgz" --exclude='*.pt' -C /tmp gpu-study
wait "$ranking_pid"
echo "ranking exit $?" >>"$OUT/ranking.log"
cp benchmarks/results/proxy_runs.json "$OUT/" 2>/dev/null
python3 benchmarks/device_ranking.py --only-table >>"$OUT/ranking.log" 2>&1
exit 0
