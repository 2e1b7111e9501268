#!/bin/sh
# Builds magi_attention._C with plain CMake (preset `python`) and installs the package into the
# interpreter's site-packages. No Python package index needed; on Debian:
#   apt-get install -y cmake ninja-build g++ python3-torch pybind11-dev python3-numpy python3-pytest
#   tools/install_python.sh
# Environment: PYTHON (default /usr/bin/python3), MAGI_PYTHON_INSTALL_DIR (default: PYTHON's
# platlib), JOBS (default 2), MAGI_CUDA (AUTO: CUDA kernels when nvcc exists; OFF; ON).
set -eu
PYTHON=${PYTHON:-/usr/bin/python3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=${MAGI_PYTHON_INSTALL_DIR:-$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("platlib"))')}
cd "$ROOT"
cmake --preset python -DPython3_EXECUTABLE="$PYTHON" -DMAGI_CUDA="${MAGI_CUDA:-AUTO}" -DMAGI_PYTHON_INSTALL_DIR="$DEST"
cmake --build build/python -j "${JOBS:-2}"
cmake --install build/python
echo "magi_attention installed into $DEST"
