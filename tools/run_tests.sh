#!/usr/bin/env bash
# Runs every test this machine can run, starting from a fresh clone on a fresh Debian/Ubuntu
# machine (CI: .ci/run calls this):
#   1. installs the packages it lacks (tools/install_deps.sh: apt-get, as root or via sudo);
#   2. the C++ suites (ctest, preset default), the magi-attn checks among them;
#   3. the C++ suites again under AddressSanitizer + UndefinedBehaviorSanitizer (preset asan),
#      then the fuzz driver (tests/fuzz) under them for MAGI_FUZZ_SECONDS;
#   4. where nvcc exists, one CUDA build (preset cuda): the NCCL communicator where NCCL exists
#      (built and its GPU tests run: they skip without a GPU), the Python extension with the
#      CUDA kernels and magi-attn with its CUDA bench (compiled, not run: GPU tests are in
#      tests/cuda, see docs/cuda.md); without
#      nvcc, the host-only extension (tools/install_python.sh --inplace);
#   5. the Python suites (pytest, CPU).
# Environment: MAGI_JOBS (default: nproc), MAGI_SANITIZE=0 (skip step 3), MAGI_FUZZ_SECONDS
# (default 60), MAGI_FUZZ_SEED (default: the time; printed), MAGI_INSTALL_DEPS=0 (skip step 1),
# PYTHON (the interpreter of step 5; default /usr/bin/python3, Debian's torch).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${MAGI_JOBS:-$(nproc)}
start=$(date +%s)
stamp() { echo "   ($(($(date +%s) - start)) s)"; }

echo "== dependencies"
tools/install_deps.sh
if [ -d /usr/local/cuda/bin ]; then export PATH="/usr/local/cuda/bin:$PATH"; fi

echo "== C++: build and ctest"
cmake --preset default >/dev/null
cmake --build --preset default -j "$jobs"
ctest --preset default -j "$jobs"
stamp

if [ "${MAGI_SANITIZE:-1}" != "0" ]; then
  echo "== C++ under ASan + UBSan: build, ctest, fuzz driver"
  # NOTE: the asan preset compiles at -O1 -g1 (line tables only): on the 2-core CI machine its
  # build took 750 s at -O2 -g and 450 s so (bench/NOTES.md v30), reports still name file:line.
  cmake --preset asan >/dev/null
  cmake --build --preset asan -j "$jobs"
  ctest --preset asan -j "$jobs" -E '^magi_fuzz$'
  seed=${MAGI_FUZZ_SEED:-$(date +%s)}
  echo "fuzz: MAGI_FUZZ_SEED=$seed MAGI_FUZZ_SECONDS=${MAGI_FUZZ_SECONDS:-60}"
  MAGI_FUZZ_SEED=$seed MAGI_FUZZ_SECONDS=${MAGI_FUZZ_SECONDS:-60} \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    build/asan/magi_fuzz
  stamp
fi

python=${PYTHON:-/usr/bin/python3}
if command -v nvcc >/dev/null; then
  # One CUDA build tree for the NCCL communicator (a C++ library of its own, no kernels: compiled
  # and linked here so it cannot rot between GPU sessions; its tests skip without a GPU) and the
  # Python extension with the CUDA kernels: the host library they share compiles once.
  echo "== C++ with CUDA: the NCCL communicator and the Python extension with the CUDA kernels"
  cmake --preset cuda -DMAGI_PYTHON=ON -DPython3_EXECUTABLE="$python" >/dev/null
  # magi-attn too: its `bench --device cuda` compiles only here.
  targets="_C magi-attn"
  nccl=0
  if cmake --build build/cuda --target help 2>/dev/null | grep -q magi_nccl_tests; then
    targets="magi_nccl_tests $targets"
    nccl=1
  fi
  cmake --build build/cuda -j "$jobs" --target $targets
  if [ $nccl = 1 ]; then build/cuda/src/comm/nccl/magi_nccl_tests; fi
  stamp
  echo "== Python: pytest"
else
  echo "== Python: build the extension, run pytest"
  JOBS=$jobs MAGI_CUDA=AUTO PYTHON=$python tools/install_python.sh --inplace
fi
PYTHONPATH="$PWD/python" "$python" -m pytest -q tests/python
stamp
echo "== all tests passed"
