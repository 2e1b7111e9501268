#!/usr/bin/env bash
# Runs every test this machine can run: the C++ suites (ctest) and the Python suites (pytest,
# CPU). The Python extension is built with the CUDA kernels whenever nvcc is found, so a
# machine without a GPU still compiles them (it cannot run them; GPU tests: docs/cuda.md).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${MAGI_JOBS:-$(nproc)}

echo "== C++: build and ctest"
cmake --preset default >/dev/null
cmake --build --preset default -j "$jobs"
ctest --preset default -j "$jobs"

echo "== Python: build the extension$(command -v nvcc >/dev/null && echo ' with the CUDA kernels'), run pytest"
JOBS=$jobs MAGI_CUDA=AUTO tools/install_python.sh --inplace
PYTHONPATH="$PWD/python" /usr/bin/python3 -m pytest -q tests/python
echo "== all tests passed"
