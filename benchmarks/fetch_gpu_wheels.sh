#!/usr/bin/env bash
# Downloads here the wheels benchmarks/gpu_check.sh installs on a GPU machine without network.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: benchmarks/fetch_gpu_wheels.sh [--dest DIR] [--python-version X.Y] [--no-shared] [-h]

Fills DIR (default benchmarks/wheels, git-ignored) with the wheels that
`pip install -e .` needs beyond what a GPU image with jax, flax, optax, chex,
orbax-checkpoint, numpy and torch already has: ml-collections,
tensorflow-datasets and its requirements, tensorboardX; and, in case the
machine's own are too old, flax, optax, chex and orbax-checkpoint (pip keeps
installed versions that satisfy setup.cfg), and setuptools, wheel and
packaging, which pip's isolated build of nasjax takes from the folder. Linux x86-64 wheels for CPython
3.12 by default (pip download --only-binary=:all: --no-deps); pure-Python
packages published only as source are built into wheels here.

Unless --no-shared, DIR/shared/ also gets the CIFAR-10 subset, the NAS-Bench-201
table and the PyTorch reference from $NASJAX_DATA_DIR (or ../shared/data) and
../shared/bench, which gpu_check.sh reads when ../shared is not beside the
checkout (about 18 MB; the whole folder is about 30 MB).

  --dest DIR            where the wheels go (default benchmarks/wheels)
  --python-version X.Y  the GPU machine's Python (default 3.12)
  --no-shared           wheels only
  -h, --help            this text
EOF
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
dest="$here/wheels"
pyver="3.12"
shared=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --dest) dest="$2"; shift 2 ;;
    --python-version) pyver="$2"; shift 2 ;;
    --no-shared) shared=0; shift ;;
    *) echo "fetch_gpu_wheels.sh: unknown argument $1 (see -h)" >&2; exit 2 ;;
  esac
done
python="${PYTHON:-python3}"
mkdir -p "$dest"

# The versions the CPU test suite runs with; one version of each (two stop pip's install).
# setuptools, wheel (pyproject.toml's build requirements) and wheel's packaging: pip's
# isolated build of nasjax sees only the folder, not what the machine has installed.
binary=(
  ml-collections==1.1.0
  tensorboardX==2.6.5
  tensorflow-datasets==4.9.10
  tensorflow-metadata==1.21.0
  array-record==0.8.6
  dm-tree==0.1.10
  immutabledict==4.3.1
  simple-parsing==0.1.9
  docstring-parser==0.18.0
  termcolor==3.3.0
  toml==0.10.2
  googleapis-common-protos==1.76.0
  flax==0.12.8
  optax==0.2.8
  chex==0.1.92
  orbax-checkpoint==0.12.8
  "setuptools>=70.1"
  wheel
  "packaging>=24.0"
)
# Published as source only; pure Python, so a wheel built here installs anywhere.
source_only=(promise==2.3)

platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
  manylinux1_x86_64; do
  platforms+=(--platform "$p")
done
"$python" -m pip download --no-deps --only-binary=:all: --python-version "$pyver" \
  --implementation cp "${platforms[@]}" -d "$dest" "${binary[@]}"
"$python" -m pip wheel --no-deps -w "$dest" "${source_only[@]}"

if [[ $shared -eq 1 ]]; then
  data="${NASJAX_DATA_DIR:-$repo/../shared/data}"
  mkdir -p "$dest/shared"
  for f in cifar10_subset.npz nb201.csv.gz; do
    if [[ -f "$data/$f" ]]; then cp "$data/$f" "$dest/shared/"; else echo "no $data/$f" >&2; fi
  done
  ref="$repo/../shared/bench/torch_darts_reference.py"
  if [[ -f "$ref" ]]; then cp "$ref" "$dest/shared/"; else echo "no $ref" >&2; fi
fi
du -sh "$dest"
ls "$dest"
