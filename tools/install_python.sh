#!/bin/sh
# Builds magi_attention._C with plain CMake (preset `python`) and installs the package into an
# interpreter's site-packages. No Python package index needed. Needs cmake, ninja, a C++20
# compiler and pybind11's CMake files (Debian: tools/install_deps.sh installs them all, and
# torch for /usr/bin/python3):
#   tools/install_python.sh                     # build + install for the default interpreter
#   PYTHON=/path/to/python3 tools/install_python.sh   # ... for any interpreter that has torch
#   tools/install_python.sh --inplace           # build only; the module lands in
#                                               # python/magi_attention/ (use PYTHONPATH=python)
# Environment: PYTHON (default: the `python3` first on PATH when it imports torch, else
# /usr/bin/python3), MAGI_PYTHON_INSTALL_DIR (default: PYTHON's platlib), JOBS (default 2),
# MAGI_CUDA (AUTO: the CUDA kernels when nvcc and their sources exist; OFF; ON).
set -eu
has_torch() { "$1" -c 'import torch' >/dev/null 2>&1; }
if [ -z "${PYTHON:-}" ]; then
  PYTHON=/usr/bin/python3
  first=$(command -v python3 || true)
  if [ -n "$first" ] && has_torch "$first"; then PYTHON=$first; fi
fi
if ! has_torch "$PYTHON"; then
  echo "install_python: $PYTHON cannot import torch; install torch for it, or set PYTHON to an" \
       "interpreter that has torch (Debian: apt-get install python3-torch, for /usr/bin/python3)" >&2
  exit 1
fi
echo "install_python: for $PYTHON ($("$PYTHON" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__)'))"
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
