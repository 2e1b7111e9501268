#!/usr/bin/env bash
# On the device: build each variant "name=flags" of $VARIANTS (';'-separated) into its own
# build dir and Python package copy, then run $BENCH_SCRIPT (default bench/bench_ffa.py)
# with $BENCH_ARGS for each.
set -o pipefail
OUT=${OUT:-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
IFS=';' read -ra VS <<<"$VARIANTS"
for v in "${VS[@]}"; do
  name=${v%%=*}; flags=${v#*=}
  cmake -B build_$name -G Ninja -DMAGI_CUDA=ON -DMAGI_PYTHON=ON -DMAGI_BUILD_TESTS=OFF \
    -DMAGI_BUILD_BENCH=OFF -DCMAKE_CUDA_ARCHITECTURES=90a -DMAGI_CUDA_EXTRA_FLAGS="$flags" \
    -DPython3_EXECUTABLE="$(command -v python3)" >"$OUT/build_$name.log" 2>&1 &&
    ninja -C build_$name -j16 >>"$OUT/build_$name.log" 2>&1 || { tail -30 "$OUT/build_$name.log"; continue; }
  rm -rf /tmp/py_$name && cp -r python /tmp/py_$name
  echo "built $name ($flags): $(grep -c spill "$OUT/build_$name.log") spill lines"
done
for v in "${VS[@]}"; do
  name=${v%%=*}
  [ -d /tmp/py_$name ] || continue
  echo "=== variant $name"
  if [ -n "${BENCH_SCRIPT:-}" ]; then
    PYTHONPATH=/tmp/py_$name OUT=$OUT/$name python3 $BENCH_SCRIPT $BENCH_ARGS 2>&1 | grep -v Warning
  else
    PYTHONPATH=/tmp/py_$name python3 bench/bench_ffa.py --tag "v_$name" $BENCH_ARGS 2>&1 |
      grep -E "ffa|===|Error|error" | grep -v Warning
  fi
done
