#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages that the build and the tests need, when some are missing
# (apt-get; as root, or through sudo). A no-op when everything is present. tools/run_tests.sh
# calls it, so the README's test command works on a fresh machine.
#   tools/install_deps.sh
# Environment: MAGI_INSTALL_DEPS=0 skips it (a machine set up another way).
set -euo pipefail
[ "${MAGI_INSTALL_DEPS:-1}" = "0" ] && exit 0
# libopenblas0-pthread: Debian's torch calls the system libblas.so.3, which without it is the
# reference BLAS: 60x slower matmuls, most of the Python tests' time (the examples' projections
# and the float64 references).
need=(cmake ninja-build g++ libgtest-dev libbenchmark-dev python3-torch pybind11-dev
      python3-numpy python3-pytest libopenblas0-pthread)
if ! command -v dpkg >/dev/null 2>&1; then
  echo "install_deps: not a Debian-based system; make sure these (or their equivalents) are" \
       "installed: ${need[*]}" >&2
  exit 0
fi
missing=()
for p in "${need[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install_deps: missing packages: ${missing[*]}; install them as root:" >&2
  echo "  apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "install_deps: installing ${missing[*]}"
# NOTE: the lock timeout waits for another apt/dpkg run instead of failing at once.
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
  -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
