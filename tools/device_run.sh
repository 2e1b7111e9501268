#!/usr/bin/env bash
# On the device machine, from the repository root: build, then run the steps named in $@
# (see the case list below; STEP_TIMEOUT bounds the pytest steps); EXTRA = extra -D flags;
# NO_BUILD=1 skips the first build (steps that need no library: pairprobe). Logs go to $OUT.
set -o pipefail
OUT=${OUT:-out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD/python PYTHONUNBUFFERED=1
# NOTE: the device copy's git metadata is stale; pass the commit being measured.
[ -n "${MAGI_COMMIT:-}" ] || echo "warning: MAGI_COMMIT unset: bench JSON will name a stale commit"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
build() {  # (re)configure with EXTRA and build in place; the package loads build's module
  local t0=$(date +%s)
  echo "== build EXTRA='${EXTRA:-}'"
  cmake -B build -G Ninja -DMAGI_CUDA=ON -DMAGI_PYTHON=ON -DMAGI_BUILD_TESTS=OFF \
    -DMAGI_BUILD_BENCH=OFF -DCMAKE_CUDA_ARCHITECTURES=${ARCH:-90a} \
    -DPython3_EXECUTABLE="$(command -v python3)" -DMAGI_CUDA_EXTRA_FLAGS="${EXTRA:-}" \
    >>"$OUT/build.log" 2>&1 &&
    ninja -C build -j16 >>"$OUT/build.log" 2>&1 || { tail -60 "$OUT/build.log"; exit 1; }
  echo "build ok in $(( $(date +%s) - t0 ))s"; grep -c "spill" "$OUT/build.log"
}
# Each development variant of $1 (';'-separated -D flags) built on top of EXTRA, AB_TESTS run on
# it, then "$2 <i>" (i = 1, 2, ...: the variant's number); EXTRA's build again at the end.
for_each_variant() {
  local saved="${EXTRA:-}" i=0 v variants
  IFS=';' read -ra variants <<<"$1"
  for v in "${variants[@]}"; do
    i=$((i + 1)); EXTRA="$saved $v" build
    timeout ${STEP_TIMEOUT:-300} python3 -m pytest ${AB_TESTS:-tests/cuda/test_ffa.py} -q -rf 2>&1 | tail -3
    "$2" "$i"
  done
  EXTRA="$saved" build
}
NCU_SECTIONS="--section SpeedOfLight --section WarpStateStats --section ComputeWorkloadAnalysis
  --section MemoryWorkloadAnalysis"  # the ncu steps' common sections
[ -n "${NO_BUILD:-}" ] || build  # NO_BUILD=1: steps that need no library (pairprobe)
for step in "$@"; do
  echo "== $step ($(date +%T))"
  case "$step" in
    rebuild:*) EXTRA="${step#rebuild:}" build ;;  # rebuild:<-D flags>, then the next steps
    env:*) export "${step#env:}" ;;  # env:NAME=value for the steps after it
    unenv:*) unset "${step#unenv:}" ;;
    tests) timeout ${STEP_TIMEOUT:-600} python3 -m pytest tests/cuda -q --maxfail=20 -rf -s 2>&1 | tee -a "$OUT/tests.log" | tail -40 ;;
    tests_nodet)  # tests/cuda without the deterministic mode's tests
      timeout ${STEP_TIMEOUT:-400} python3 -m pytest tests/cuda -q --maxfail=20 -rf \
        --ignore=tests/cuda/test_deterministic.py 2>&1 | tee -a "$OUT/tests_nodet.log" | tail -25 ;;
    large_hd)  # head dims 192 / 256: their tests, then forward / backward against cuDNN and Flex
      timeout ${STEP_TIMEOUT:-300} python3 -m pytest tests/cuda -q -rf -k "large_head or bitwise" \
        2>&1 | tee -a "$OUT/large_hd.log" | tail -5
      python3 bench/bench_ffa.py --sizes 8192,32768 --heads 16:16 --dims 256,192 --cases full,causal \
        --impls ffa,flex,sdpa_cudnn --budget-s 100 --tag large_hd 2>&1 | tee -a "$OUT/bench.log" |
        grep -v Warning ;;
    smoke)  # the forward tests alone, stopped after the first failure
      timeout 300 python3 -m pytest tests/cuda/test_ffa.py -q -x 2>&1 |
        tee -a "$OUT/smoke.log" | tail -30 ;;
    quick:*) timeout 400 python3 bench/fwd_quick.py ${step#quick:} 2>&1 | tee -a "$OUT/quick.log" ;;
    probe)  # the Hopper backward, one small case per process (tests/cuda/probe_bwd.py)
      for args in "tiny" "tiny --det" "causal --hd 128" "causal --hd 128 --det" \
        "two --hd 128 --heads 4:2" "two --hd 128 --heads 4:2 --det" "docs --heads 2:2" \
        "docs --heads 2:2 --det"; do
        timeout 60 python3 tests/cuda/probe_bwd.py $args >>"$OUT/probe.log" 2>&1
        echo "probe $args: rc=$?" | tee -a "$OUT/probe.log"
      done
      grep -E "max err|Error|error" "$OUT/probe.log" | sort | uniq -c | head -30 ;;
    memcheck:*)  # compute-sanitizer memcheck on one probe case: memcheck:<probe args, ',' for ' '>
      timeout 200 compute-sanitizer --tool memcheck --show-backtrace device \
        python3 tests/cuda/probe_bwd.py $(echo "${step#memcheck:}" | tr ',' ' ') 2>&1 |
        tee -a "$OUT/memcheck.log" | grep -v "^=========     " | head -40 ;;
    tests_portable)  # the portable (mma.sync) kernels on the same machine
      MAGI_FFA_PORTABLE=1 python3 -m pytest tests/cuda -q --maxfail=20 -rf 2>&1 |
        tee -a "$OUT/tests_portable.log" | tail -15 ;;
    hot)  # the hot path (issue 11): the package on CUDA, torch.compile, host time vs targets
      timeout 900 python3 -m pytest tests/python/test_cuda.py tests/python/test_compile.py -q -rf \
        2>&1 | tee -a "$OUT/hot.log" | tail -15
      timeout 600 python3 bench/host_time.py --gpu-time 4096,32768 --json "$OUT/host_time.json" \
        2>&1 | tee -a "$OUT/hot.log" ;;
    pairprobe)  # the CTA pairs' protocol alone (tests/cuda/pair_probe.cu; bench/NOTES.md v46);
      # PAIRPROBE_RUNS: the runs, PAIRPROBE_TOOL: a prefix (e.g. compute-sanitizer --tool memcheck)
      if "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)" -std=c++17 -O2 \
        -gencode arch=compute_90a,code=sm_90a -DMAGI_FFA_WAIT_LIMIT=10000000 -Isrc -Iinclude \
        tests/cuda/pair_probe.cu src/kernels/cuda/ffa/sm90/tma_desc.cc -o "$OUT/pair_probe" \
        >"$OUT/pairprobe.log" 2>&1; then
        # one process per load mode and protocol parts ("mode[:features]", pair_probe.cu)
        for run in ${PAIRPROBE_RUNS:-0 0:71 1 2 3}; do
          features=$([[ $run == *:* ]] && echo "${run#*:}")
          timeout ${STEP_TIMEOUT:-120} ${PAIRPROBE_TOOL:-} "$OUT/pair_probe" ${run%%:*} $features \
            2>&1 | tee -a "$OUT/pairprobe.log" | grep -v "^block" | head -20
          echo "pairprobe $run rc=${PIPESTATUS[0]}"
        done
      else
        tail -20 "$OUT/pairprobe.log"; echo "pairprobe: the build failed"
      fi
      rm -f "$OUT/pair_probe" ;;
    sass)  # which tensor-core instructions each kernel uses
      for so in $(find build python -name "_C*.so" | head -1); do
        cuobjdump -sass "$so" | awk '/Function :/ {f=$3} /HGMMA/ {h[f]++} /HMMA/ {m[f]++}
          END {for (k in h) print "HGMMA", h[k], k; for (k in m) print "HMMA", m[k], k}' | sort | head -20
      done ;;
    ab:*)  # development flags against the build before: ab:<-DFLAG=1>[;<-DOTHER=1>...] (bench_ffa,
      # FFA alone, tags ab_base / ab_var<i>; test_ffa.py on each variant; compare), then the
      # build before again. AB_ARGS replaces the bench's shape arguments, AB_TESTS the tests,
      # AB_IMPLS the implementations (FFA's forms, e.g. ffa,ffa_max_logits; each compared).
      args=${AB_ARGS:-"--sizes 8192,32768 --heads 16:16,64:8 --dims 128,64 --cases full,causal,varlen_causal"}
      ab_bench() {
        timeout ${BENCH_TIMEOUT:-900} python3 bench/bench_ffa.py $args --impls ${AB_IMPLS:-ffa} \
          --budget-s ${AB_BUDGET:-120} --tag "ab_$1" 2>&1 |
          grep -v Warning | tail -2
        tags="$tags $OUT/ab_$1.json"
      }
      tags=; ab_bench base
      var_bench() { ab_bench "var$1"; }
      for_each_variant "${step#ab:}" var_bench
      impls=${AB_IMPLS:-ffa}
      for impl in ${impls//,/ }; do
        python3 bench/compare.py $tags --impl "$impl" 2>&1 | tee -a "$OUT/compare.log"
      done ;;
    dpass)  # the hd 256 backward in passes over halves of D (bench/NOTES.md v36), a build with
      # a barrier-wait limit: its hd 256 tests, the bench beside cuDNN, then the sanitizers
      EXTRA="-DMAGI_FFA_HD256_BWD_DPASS=1 -DMAGI_FFA_WAIT_LIMIT=200000000" build
      timeout ${STEP_TIMEOUT:-200} python3 -m pytest tests/cuda/test_ffa.py tests/cuda/test_nonfinite.py \
        -q -rf -x -k "large_head or 256" 2>&1 | tee -a "$OUT/dpass_tests.log" | tail -6
      python3 bench/bench_ffa.py --sizes 8192,32768 --heads 16:16 --dims 256 --cases full,causal \
        --impls ffa,sdpa_cudnn --budget-s 80 --tag dpass 2>&1 | grep -v Warning | tail -3
      for tool in racecheck memcheck synccheck; do
        timeout ${STEP_TIMEOUT:-200} compute-sanitizer --tool $tool --error-exitcode 9 \
          python3 tests/cuda/sanitize_ffa.py >"$OUT/dpass_$tool.log" 2>&1
        echo "dpass $tool rc=$?"; tail -2 "$OUT/dpass_$tool.log"
      done ;;
    sanitize)  # memcheck, racecheck, synccheck on small cases (tests/cuda/sanitize_ffa.py), then
      # again with the hd 64 forward's 192-row variant forced (the small cases pick 128 rows)
      for rows in 0 192; do
        for tool in memcheck racecheck synccheck; do
          log="$OUT/${step}_${tool}_rows$rows.log"
          MAGI_FFA_FWD_ROWS=$rows timeout ${STEP_TIMEOUT:-600} compute-sanitizer --tool $tool \
            --error-exitcode 9 python3 tests/cuda/sanitize_ffa.py >"$log" 2>&1
          echo "$step $tool rows $rows rc=$?"; tail -6 "$log"
        done
      done ;;
    ncu:*)  # counters of the FFA and FlashAttention-2 kernels on one case: ncu:<case> <S>
      PROFILE_PEER=1 ncu --clock-control none --kernel-name regex:"ffa_fwd_sm90|ffa_bwd_ws|ffa_(fwd|bwd)_kernel|flash_(fwd|bwd)" \
        --launch-count 4 $NCU_SECTIONS python3 bench/profile_ffa.py ${step#ncu:} 1 >"$OUT/ncu.txt" 2>&1
      grep -E "^  [a-z_]+.*\(|Duration|Compute \(SM\) Throughput|Memory Throughput|Warp Cycles Per Issued|Issue Slots Busy|Executed Ipc A|L2 Hit|Registers Per" "$OUT/ncu.txt" | cut -c1-110 ;;
    ncucmp:*)  # FFA and cuDNN side by side, one pass: ncucmp:<fwd|bwd>,<case>,<S>,<hq:hkv>,<head_dim>
      # NCUCMP_METRICS (env): more metrics, ','-separated, e.g. dram__bytes_read.sum.
      IFS=, read -r pass c n h d <<<"${step#ncucmp:}"
      if [ "$pass" = fwd ]; then fwd=1 kern="ffa_fwd_sm90|fprop"; else fwd= kern="ffa_bwd_ws|bprop"; fi
      log="$OUT/ncucmp_${pass}_${c}_${n}_${h/:/-}_$d.txt"
      # A second step of the same shape in one call (another build) keeps the first's file.
      i=2; while [ -e "$log" ]; do log="$OUT/ncucmp_${pass}_${c}_${n}_${h/:/-}_${d}_$i.txt"; i=$((i + 1)); done
      PROFILE_PEER=cudnn PROFILE_FWD=$fwd ncu --clock-control none --kernel-name regex:"$kern" --launch-count 2 \
        $NCU_SECTIONS --section Occupancy --section LaunchStats \
        --metrics regex:sm__pipe_.*_cycles_active.avg.pct_of_peak_sustained_active,regex:sm__inst_executed_pipe_.*.avg.pct_of_peak_sustained_active,regex:smsp__average_warps_issue_stalled_.*_per_issue_active,lts__t_bytes.sum.per_second,sm__cycles_active.min,sm__cycles_active.max${NCUCMP_METRICS:+,$NCUCMP_METRICS} \
        python3 bench/profile_ffa.py "$c" "$n" 1 "$h" "$d" >"$log" 2>&1
      grep -E "^  [a-zA-Z_]+.*\(|Elapsed Cycles|SM Active Cycles|sm__cycles_active|Duration|DRAM Throughput|L2 Hit|Issue Slots Busy|Registers Per|Grid Size|sm__pipe_tensor_cycles|lts__t_bytes${NCUCMP_METRICS:+|${NCUCMP_METRICS//,/|}}" \
        "$log" | cut -c1-120 ;;
    stalls:*)  # the backward's stall split: stalls:<case>,<S>,<hq:hkv>[,<head_dim>] (ncu, one bwd launch)
      IFS=, read -r c n h d <<<"${step#stalls:}"
      ncu --clock-control none --kernel-name regex:"ffa_bwd_ws" --launch-count 1 \
        --metrics regex:smsp__average_warps_issue_stalled_.*_per_issue_active,sm__throughput.avg.pct_of_peak_sustained_elapsed,lts__t_sector_hit_rate.pct,dram__throughput.avg.pct_of_peak_sustained_elapsed,smsp__issue_active.avg.pct_of_peak_sustained_active \
        python3 bench/profile_ffa.py "$c" "$n" 1 "$h" $d >"$OUT/stalls_${c}_${n}_${h/:/-}$d.txt" 2>&1
      grep -E "stalled|throughput|hit_rate|issue_active" "$OUT/stalls_${c}_${n}_${h/:/-}$d.txt" |
        sed 's/smsp__average_warps_issue_stalled_//; s/_per_issue_active//' | head -40 ;;
    srcstalls:*)  # warp-state samples per SASS instruction of one bwd (or fwd) launch:
      # srcstalls:<fwd|bwd>,<case>,<S>,<hq:hkv>,<head_dim> (bench/stall_lines.py reads the CSV)
      IFS=, read -r pass c n h d <<<"${step#srcstalls:}"
      if [ "$pass" = fwd ]; then fwd=1 kern="ffa_fwd_sm90"; else fwd= kern="ffa_bwd_ws"; fi
      tag="${pass}_${c}_${n}_${h/:/-}_$d"
      PROFILE_FWD=$fwd ncu --clock-control none --kernel-name regex:"$kern" --launch-count 1 --section SourceCounters \
        --section WarpStateStats -f -o "$OUT/src_$tag" python3 bench/profile_ffa.py "$c" "$n" 1 "$h" "$d" \
        >"$OUT/src_$tag.log" 2>&1
      ncu --import "$OUT/src_$tag.ncu-rep" --page source --csv --print-source sass \
        >"$OUT/src_$tag.csv" 2>>"$OUT/src_$tag.log"
      rm -f "$OUT/src_$tag.ncu-rep"
      python3 bench/stall_lines.py "$OUT/src_$tag.csv" 45 2>&1 | tee "$OUT/src_$tag.txt" | cut -c1-160
      gzip -f "$OUT/src_$tag.csv" ;;
    cycles:*)  # FFA's kernels' SM cycles under ncu (bench/cycles.py; CYC_SHAPES)
      python3 bench/cycles.py --tag "${step#cycles:}" 2>&1 | tee -a "$OUT/cycles.log" ;;
    cyccmp:*)  # earlier cycles steps side by side: cyccmp:<base tag>,<tag>,...
      python3 bench/cycles.py --compare $(echo "${step#cyccmp:}" | tr ',' ' ') 2>&1 |
        tee -a "$OUT/cycles.log" ;;
    abcyc:*)  # development flags against the build before, in SM cycles (far less moved by the
      # power cap's clocks than time, v38): abcyc:<-DFLAG=1>[;<-DOTHER=1>...]; test_ffa.py on
      # each variant; the build before again at the end
      cyc() {
        python3 bench/cycles.py --tag "$1" 2>&1 | tee -a "$OUT/cycles.log" | tail -1
        tags="$tags $1"
      }
      tags=; cyc cb
      var_cyc() { cyc "cv$1"; }
      for_each_variant "${step#abcyc:}" var_cyc
      python3 bench/cycles.py --compare $tags 2>&1 | tee -a "$OUT/cycles.log" ;;
    power:*)  # clocks, power and TFLOP per joule of FFA and cuDNN, each run alone for 3 s
      # (bench/power.py; v38): power:<fwd|bwd>,<case>,<S>,<hq:hkv>,<head_dim>
      IFS=, read -r pass c n h d <<<"${step#power:}"
      b=; [ "$pass" = bwd ] && b=--bwd
      timeout 120 python3 bench/power.py --case "$c" --S "$n" --heads "$h" --d "$d" $b 2>&1 |
        grep -v Warning | tee -a "$OUT/power.log" ;;
    mix:*)  # executed SASS per opcode and wgmma shape of FFA's kernel and cuDNN's on one case
      # (bench/sass_mix.py; v36): mix:<fwd|bwd>,<case>,<S>,<hq:hkv>,<head_dim>. cuDNN's listing is
      # not kept (NVIDIA's code): its opcode totals only.
      IFS=, read -r pass c n h d <<<"${step#mix:}"
      tag="${pass}_${c}_${n}_${h/:/-}_$d"; fwd=; [ "$pass" = fwd ] && fwd=1
      for k in ffa cudnn; do
        if [ $k = ffa ]; then kern="ffa_fwd_sm90|ffa_bwd_ws"; else kern="fprop|bprop"; fi
        [ "$pass" = fwd ] && kern="${kern%%|*}" || kern="${kern##*|}"
        PROFILE_PEER=cudnn PROFILE_FWD=$fwd ncu --clock-control none --kernel-name regex:"$kern" --launch-count 1 \
          --section SourceCounters --section LaunchStats -f -o "$OUT/mix_${tag}_$k" \
          python3 bench/profile_ffa.py "$c" "$n" 1 "$h" "$d" >"$OUT/mix_${tag}_$k.log" 2>&1
        ncu --import "$OUT/mix_${tag}_$k.ncu-rep" --page source --csv --print-source sass \
          >"$OUT/mix_${tag}_$k.csv" 2>>"$OUT/mix_${tag}_$k.log"
        ncu --import "$OUT/mix_${tag}_$k.ncu-rep" --page details 2>>"$OUT/mix_${tag}_$k.log" |
          grep -E "Duration|Registers Per|Dynamic Shared" | tee "$OUT/mix_${tag}_$k.txt"
        python3 bench/sass_mix.py "$OUT/mix_${tag}_$k.csv" --no-lines | tee -a "$OUT/mix_${tag}_$k.txt" |
          tail -11
        rm -f "$OUT/mix_${tag}_$k.ncu-rep"
      done
      gzip -f "$OUT/mix_${tag}_ffa.csv"; rm -f "$OUT/mix_${tag}_cudnn.csv" ;;
    threads:*)  # cp ranks as threads on one GPU (bench/bench_threads.py): times, streams, overlap
      timeout ${STEP_TIMEOUT:-300} python3 bench/bench_threads.py --out "$OUT" ${step#threads:} 2>&1 |
        tee -a "$OUT/threads.log" | grep -v Warning | tail -20 ;;
    dist:*)  # issue 12 on one GPU: bench_dist.py at cp 1 (NCCL), with a profiler trace
      timeout 300 torchrun --nproc-per-node 1 bench/bench_dist.py --out "$OUT" --trace ${step#dist:} 2>&1 |
        tee -a "$OUT/dist.log" | grep -v Warning | tail -30 ;;
    nccl)  # the C++ NCCL communicator's GPU tests (ctest label gpu)
      { cmake -B build/nccl -G Ninja -DCMAKE_BUILD_TYPE=Release -DMAGI_CUDA=ON -DMAGI_NCCL=ON \
          -DMAGI_BUILD_BENCH=OFF -DCMAKE_CUDA_ARCHITECTURES=${ARCH:-90a} &&
        ninja -C build/nccl -j16 magi_nccl_tests && build/nccl/src/comm/nccl/magi_nccl_tests
      } >"$OUT/nccl.log" 2>&1; echo "nccl rc=$?"; tail -12 "$OUT/nccl.log" ;;
    harness)  # the run behind bench/RESULTS.md: copy $OUT/bench_ffa.json to bench/results.json,
      # $OUT/bench_mha.json to bench/runs/, and run bench/report.py on both here
      python3 bench/bench_ffa.py --sizes 2048,8192,32768 --heads 64:8 \
        --impls ffa,ffa_det,flex,sdpa_cudnn --budget-s 300 --tag bench_ffa 2>&1 |
        tee -a "$OUT/bench.log" | grep -v Warning
      python3 bench/bench_ffa.py --sizes 2048,8192,32768 --heads 16:16 --dims 128,64,256,192:128 \
        --cases full,causal --impls ffa,sdpa_cudnn --budget-s 160 --tag bench_mha 2>&1 |
        tee -a "$OUT/bench.log" | grep -v Warning ;;
    bench:*) timeout ${BENCH_TIMEOUT:-900} python3 bench/bench_ffa.py ${step#bench:} 2>&1 |
      tee -a "$OUT/bench.log" | grep -v Warning ;;
    pytest:*)  # pytest:<files and options>, quotes honoured, e.g. "pytest:tests/cuda -k 'a or b'"
      eval "pytest_args=(${step#pytest:})"
      timeout ${STEP_TIMEOUT:-600} python3 -m pytest "${pytest_args[@]}" -q -rf 2>&1 |
        tee -a "$OUT/pytest.log" | tail -15 ;;
    csan:*)  # compute-sanitizer on a pytest selection: csan:<tool> <pytest args, quotes honoured>,
      # e.g. "csan:racecheck tests/cuda/test_ffa.py -k 'dq_in_input_dtype and not deterministic'"
      eval "csan_args=(${step#csan:})"
      log="$OUT/csan_${csan_args[0]}.log"; i=2
      while [ -e "$log" ]; do log="$OUT/csan_${csan_args[0]}_$i.log"; i=$((i + 1)); done
      timeout ${STEP_TIMEOUT:-600} compute-sanitizer --tool "${csan_args[0]}" --error-exitcode 9 \
        python3 -m pytest "${csan_args[@]:1}" -q -rf >"$log" 2>&1
      echo "csan ${csan_args[0]} rc=$?"; grep -E "ERROR SUMMARY|RACECHECK SUMMARY|passed|failed" "$log" | tail -4 ;;
    pack)  # the last step: everything under $OUT into $OUT/out.tgz (the device returns few files)
      tar czf /tmp/device_run_out.tgz -C "$OUT" . && find "$OUT" -mindepth 1 -delete &&
        mv /tmp/device_run_out.tgz "$OUT/out.tgz" ;;
    dqcast:*)  # the dQ cast after the kernel and in it (MAGI_FFA_BWD_DQ_CAST=0 / 1), a process
      # each, through magi-attn bench (CUDA: gradients in q's dtype, checked in float64):
      # dqcast:<tag>,<S>,<head_dim>,<masks ('+'-separated)>; 64:8 heads, backward only. With a
      # -DMAGI_FFA_BWD_TIMELINE=1 build, the cast's per-CTA lines summed (bench/NOTES.md v58).
      # DQCAST_ARGS: more options of the bench, e.g. --check-rows=0 (timing probes that cast wrong).
      IFS=, read -r tag n d m <<<"${step#dqcast:}"
      for c in 0 1; do
        f="$OUT/dqcast_${tag}_c$c.txt"
        MAGI_FFA_BWD_DQ_CAST=$c timeout 120 build/magi-attn bench --device cuda --seqlen "$n" \
          --heads 64 --heads-kv 8 --head-dim "$d" --passes bwd --masks "${m//+/,}" ${DQCAST_ARGS:-} >"$f" 2>&1
        echo "c$c rc=$?"; grep -A4 "^mask" "$f" | cut -c1-130
        grep -E "^bwd (cast|timeline)" "$f" | awk -f tools/dqcast_summary.awk
      done ;;
    compare:*)  # FFA's rates of earlier bench steps side by side: compare:<base tag>,<tag>,...
      # (compare:<tags>@<impl> for another implementation's rows, e.g. @ffa_det)
      tags="${step#compare:}"; impl=ffa; [[ "$tags" == *@* ]] && impl="${tags#*@}" && tags="${tags%@*}"
      python3 bench/compare.py --impl "$impl" $(echo "$tags" | tr ',' ' ' |
        xargs -n1 printf "$OUT/%s.json\n") 2>&1 | tee -a "$OUT/compare.log" ;;
  esac
done
