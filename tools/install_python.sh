#!/bin/sh
# Builds magi_attention._C with plain CMake (preset `python`) and installs the package into the
# interpreter's site-packages. No Python package index needed; on Debian:
#   apt-get install -y cmake ninja-build g++ python3-torch pybind11-dev python3-numpy python3-pytest
#   tools/install_python.sh             # build + install
#   tools/install_python.sh --inplace   # build only; the module lands in python/magi_attention/
#                                       # (use PYTHONPATH=python)
# Environment: PYTHON (default /usr/bin/python3), MAGI_PYTHON_INSTALL_DIR (default: PYTHON's
# platlib), JOBS (default 2), MAGI_CUDA (AUTO: the CUDA kernels when nvcc and their sources
# exist; OFF; ON).
set -eu
PYTHON=${PYTHON:-/usr/bin/python3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [ -z "${MAGI_CUDA:-}" ]; then
  if [ -f src/kernels/cuda/CMakeLists.txt ]; then MAGI_CUDA=AUTO; else MAGI_CUDA=OFF; fi
fi
DEST=${MAGI_PYTHON_INSTALL_DIR:-$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("platlib"))')}
cmake --preset python -DPython3_EXECUTABLE="$PYTHON" -DMAGI_CUDA="$MAGI_CUDA" \
  -DMAGI_PYTHON_INSTALL_DIR="$DEST" >/dev/null
cmake --build build/python -j "${JOBS:-2}" --target _C
if [ "${1:-}" = "--inplace" ]; then
  echo "magi_attention._C built in $ROOT/python/magi_attention"
  exit 0
fi
cmake --install build/python
echo "magi_attention installed into $DEST"
