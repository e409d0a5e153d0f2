#!/usr/bin/env bash
# Runs nasjax on every GPU of this host: one process drives all local GPUs as one
# device mesh; each batch is split over the GPUs (config.batch_size is the global
# batch and must be a multiple of the GPU count).
#
# Usage:
#   launch/local_gpus.sh CONFIG WORKDIR [FLAGS...]
#
# Examples:
#   launch/local_gpus.sh configs/nb201/darts_1st.py runs/nb201_darts_1st
#   launch/local_gpus.sh configs/darts/pc_darts.py runs/pc_darts --config.batch_size=512
#   CUDA_VISIBLE_DEVICES=0,1 launch/local_gpus.sh configs/nb201/darts_1st.py runs/two_gpus
#   NASJAX_ENTRY=nasjax.retrain launch/local_gpus.sh configs/retrain/cifar10.py runs/retrain \
#     --genotype=runs/pc_darts/genotype.json
#
# Environment:
#   NASJAX_ENTRY          the entry point module (default nasjax.search)
#   PYTHON                the interpreter (default python3; activate the venv first)
#   CUDA_VISIBLE_DEVICES  the GPUs to use (default: all of them)
# FLAGS are passed on unchanged (e.g. --config.epochs=10). Re-running with the same
# WORKDIR resumes from its latest checkpoint.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  usage
  exit 0
fi
if [[ $# -lt 2 ]]; then
  usage >&2
  exit 2
fi
config=$1
workdir=$2
shift 2
python=${PYTHON:-python3}
entry=${NASJAX_ENTRY:-nasjax.search}

if command -v nvidia-smi >/dev/null 2>&1; then
  echo "local_gpus.sh: $(nvidia-smi -L | wc -l) GPU(s) on $(hostname)" \
    "(CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-all})" >&2
fi
# One process for the whole host, even inside a SLURM allocation or an MPI job.
export NASJAX_DISTRIBUTED=off
exec "$python" -m "$entry" --config="$config" --workdir="$workdir" "$@"
