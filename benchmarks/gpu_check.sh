#!/usr/bin/env bash
# nasjax's GPU check in one call: install without network, then benchmarks/gpu_check.py.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: benchmarks/gpu_check.sh [--wheels DIR] [--out DIR] [--dry-run] [-h] [-- GPU_CHECK_ARGS...]

Installs nasjax without network (pip install --no-index --find-links DIR -e .)
and runs benchmarks/gpu_check.py: NB201 and DARTS-space search steps beside
the PyTorch reference (eager and torch.compile, f32 and bf16), 10 vmapped
seeds against one, compile times, and a short real search on the CIFAR-10
subset extrapolated to the 50-epoch NB201 search. Each stage has its own time
budget; a failure is recorded and the check goes on. About 8 minutes on one GPU.

  --wheels DIR  wheels for what the GPU machine lacks (default benchmarks/wheels,
                filled by benchmarks/fetch_gpu_wheels.sh); its shared/ folder, if
                any, holds the data and the PyTorch reference
  --out DIR     where gpu_check.json, gpu_check.md and gpu_check.log go
                (default $OUT if set, else ./gpu_check_out)
  --dry-run     CPU, tiny sizes, pip only resolves the install (a few minutes)
  -h, --help    this text
  -- ARGS       passed on to gpu_check.py (see python benchmarks/gpu_check.py -h)

Environment: PYTHON (default python3: the interpreter that gets nasjax and runs
everything), NASJAX_DATA_DIR (default ../shared/data, else WHEELS/shared).
EOF
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
wheels="$here/wheels"
out="${OUT:-./gpu_check_out}"
dry_run=0
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --wheels) wheels="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    --) shift; extra+=("$@"); break ;;
    *) echo "gpu_check.sh: unknown argument $1 (see -h)" >&2; exit 2 ;;
  esac
done
python="${PYTHON:-python3}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
case "$wheels" in /*) ;; *) wheels="$PWD/$wheels" ;; esac
cd "$repo"
log="$out/gpu_check.log"
: >"$log"

# The data and the PyTorch reference: ../shared beside the checkout, else the wheels folder's copy.
if [[ -z "${NASJAX_DATA_DIR:-}" ]]; then
  for d in "$repo/../shared/data" "$wheels/shared"; do
    if [[ -f "$d/cifar10_subset.npz" ]]; then export NASJAX_DATA_DIR="$(cd "$d" && pwd)"; break; fi
  done
fi
torch_script=""
for f in "$repo/../shared/bench/torch_darts_reference.py" "$wheels/shared/torch_darts_reference.py"; do
  if [[ -f "$f" ]]; then torch_script="$f"; break; fi
done
echo "data: ${NASJAX_DATA_DIR:-not found}; PyTorch reference: ${torch_script:-not found}" | tee -a "$log"

args=(--out "$out" --wheels "$wheels")
if [[ $dry_run -eq 1 ]]; then args+=(--dry-run); fi
if [[ -n "$torch_script" ]]; then args+=(--torch-script "$torch_script"); fi
export PYTHONUNBUFFERED=1
# The install is gpu_check.py's first stage (pip install --no-index --find-links WHEELS -e .).
"$python" "$here/gpu_check.py" "${args[@]}" ${extra[@]+"${extra[@]}"} 2>&1 | tee -a "$log"
