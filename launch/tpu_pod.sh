#!/usr/bin/env bash
# Runs nasjax on every worker of a Cloud TPU VM pod slice: the same command on all
# workers (gcloud ... ssh --worker=all); the workers find each other through JAX's
# Cloud TPU detection and run one program over one device mesh of all chips.
#
# Usage:
#   launch/tpu_pod.sh TPU_NAME ZONE CONFIG WORKDIR [FLAGS...]
#
# Example:
#   launch/tpu_pod.sh my-v4-32 us-central2-b configs/darts/pc_darts.py /mnt/shared/runs/pc_darts \
#     --config.batch_size=1024
#
# Before the first run, install nasjax on every worker (same path on each), e.g.:
#   gcloud compute tpus tpu-vm ssh my-v4-32 --zone us-central2-b --worker=all \
#     --command='git clone <your nasjax repository> ~/nasjax && pip install -e ~/nasjax "jax[tpu]"'
#
# WORKDIR must be one folder that every worker can read and write (an NFS or Filestore
# mount, or a gcsfuse-mounted bucket): all workers take part in writing and reading the
# checkpoints; only worker 0 writes the metrics and results. Data paths in the config
# (or NASJAX_DATA_DIR) must exist on every worker.
#
# Environment:
#   NASJAX_REPO     the repository on the workers (default: ~/nasjax)
#   NASJAX_ENTRY    the entry point module (default nasjax.search)
#   PYTHON          the interpreter on the workers (default python3)
#   NASJAX_DATA_DIR passed on to the workers when set
#   PROJECT         the gcloud project (default: gcloud's configured project)
# FLAGS are passed on unchanged. Re-running with the same WORKDIR resumes.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  usage
  exit 0
fi
if [[ $# -lt 4 ]]; then
  usage >&2
  exit 2
fi
tpu=$1
zone=$2
config=$3
workdir=$4
shift 4
repo=${NASJAX_REPO:-'~/nasjax'}
python=${PYTHON:-python3}
entry=${NASJAX_ENTRY:-nasjax.search}

# The remote command, each argument quoted for the workers' shell (the repository path
# is left unquoted so that ~ expands there).
remote="cd $repo && NASJAX_DISTRIBUTED=on"
if [[ -n ${NASJAX_DATA_DIR:-} ]]; then
  remote+=" NASJAX_DATA_DIR=$(printf '%q' "$NASJAX_DATA_DIR")"
fi
remote+=" $(printf '%q ' "$python" -m "$entry" --config="$config" --workdir="$workdir" "$@")"

project=()
if [[ -n ${PROJECT:-} ]]; then
  project=(--project "$PROJECT")
fi
echo "tpu_pod.sh: on every worker of $tpu: $remote" >&2
exec gcloud compute tpus tpu-vm ssh "$tpu" --zone "$zone" "${project[@]}" --worker=all \
  --command="$remote"
