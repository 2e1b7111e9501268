#!/usr/bin/env bash
# Runs every test that this machine can run: the C++ suites (ctest), the Python suites
# (pytest, CPU) and, where nvcc exists, a compile of the CUDA kernels. Exit code != 0 on any
# failure. GPU tests run on a GPU machine only: see docs/cuda.md.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${MAGI_JOBS:-$(nproc)}

echo "== C++: build and ctest"
cmake --preset default >/dev/null
cmake --build --preset default -j "$jobs"
ctest --preset default -j "$jobs"

if [ -f python/CMakeLists.txt ]; then
  echo "== Python: build the extension and run pytest"
  tools/install_python.sh --inplace
  PYTHONPATH="$PWD/python" /usr/bin/python3 -m pytest -q tests/python
fi

if command -v nvcc >/dev/null 2>&1 && [ -f src/kernels/cuda/CMakeLists.txt ]; then
  echo "== CUDA: compile the kernels (this machine cannot run them)"
  cmake --preset cuda -DMAGI_BUILD_TESTS=OFF -DMAGI_BUILD_BENCH=OFF >/dev/null
  cmake --build --preset cuda -j "$jobs"
fi
echo "== all tests passed"
