#!/usr/bin/env bash
# End-to-end checks of the magi-attn executable (issue 15, items 3-5, 7): exit status 2 and a
# message naming the option for every bad command line, no hang on a truncated slice file,
# resource limits checked up front, --help with defaults, --version, and the demo's float64
# and seqlen-1 runs passing.   Usage: cli_test.sh path/to/magi-attn
set -u
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# expect STATUS NEEDLE ARGS...: runs magi-attn ARGS (60 s at most), checks the exit status and
# that stdout+stderr contain NEEDLE.
expect() {
  local want=$1 needle=$2
  shift 2
  local out status
  out=$(timeout 60 "$bin" "$@" 2>&1)
  status=$?
  if [ "$status" != "$want" ] || [[ "$out" != *"$needle"* ]]; then
    echo "FAIL: magi-attn $*: status $status (want $want), output lacks '$needle':"
    echo "$out" | tail -5
    fails=$((fails + 1))
  fi
}

expect 0 "magi-attn 0." --version
expect 0 "commands:" --help
expect 0 "(default: 8192)" demo --help
expect 0 "(default: 65536)" help plan
expect 2 "--cp = 0: must be in" demo --cp 0
expect 2 "--cp = -1: must be in" demo --cp -1
expect 2 "--cp = 100000" demo --cp 100000 --seqlen 16
expect 2 "--cp = 32: more ranks than tokens" demo --cp 32 --seqlen 16
expect 2 "--seqlen: missing value" demo --seqlen
expect 2 "--dtype = 'bfloat16'" demo --dtype bfloat16
expect 2 "--overlap-alg = 'bogus'" plan --overlap-alg bogus
expect 2 "--dispatch = 'bogus'" plan --dispatch bogus
expect 2 "--heads-kv = 3: must divide --heads" demo --heads 8 --heads-kv 3
expect 2 "unknown option --bogus" demo --bogus 1
expect 2 "--degree = 100" demo --degree 100
expect 2 "GiB are available" demo --seqlen 2147483648
expect 2 "GiB are available" plan --seqlen 2147483648
expect 2 "--slices '$tmp/none.json': cannot open" plan --slices "$tmp/none.json"
printf '{"foo": [1, 2' > "$tmp/truncated.json"
expect 2 "offset 13" plan --slices "$tmp/truncated.json"
printf '[[0, 16, 0, 16, 1]] x' > "$tmp/garbage.json"
expect 2 "offset 20" plan --slices "$tmp/garbage.json"
printf '[[0, 16, 0, 16, 1],]' > "$tmp/comma.json"
expect 2 "trailing comma" plan --slices "$tmp/comma.json"
printf '{"seqlen": 64, "slices": [[0, 64, 0, 64, "causal"]]}' > "$tmp/ok.json"
expect 0 "imbalance" plan --slices "$tmp/ok.json" --cp 2 --chunk 8
expect 2 "--seqlen: not used with --slices" plan --slices "$tmp/ok.json" --seqlen 8
expect 0 "PASS" demo --slices "$tmp/ok.json" --cp 2 --heads 2 --head-dim 16
expect 0 "PASS (tolerance 1e-10)" demo --dtype float64 --seqlen 256 --cp 2 --heads 2
expect 0 "PASS" demo --seqlen 1 --cp 1 --mask full
expect 0 "PASS" demo --seqlen 64 --cp 2 --threads 1 --heads 2 --heads-kv 1 --degree dynamic
# A value head dim of its own (MLA-like), narrower and wider than q / k's.
expect 0 "head_dim 24 (v: 8)" demo --seqlen 200 --cp 3 --heads 4 --heads-kv 2 --head-dim 24 --head-dim-v 8
expect 0 "PASS (tolerance 1e-10)" demo --dtype float64 --seqlen 150 --cp 2 --head-dim 8 --head-dim-v 24
expect 2 "--predict: the cost model takes one head dim" demo --seqlen 300 --cp 2 --head-dim-v 24 --predict
# Errors from the library name the source file relative to the repository (item 7).
printf '[[0, 16, 0, 16, 1], [4, 2, 0, 8, 0]]' > "$tmp/reversed.json"
expect 2 "reversed.json': src/mask/" plan --slices "$tmp/reversed.json"

# bench: every mask checked against dense attention, then timed; JSON with every result.
expect 0 "varlen_block_causal" bench --device cpu --seqlen 200 --heads 4 --heads-kv 2 --head-dim 16 \
  --head-dim-v 8 --budget-ms 5 --json "$tmp/bench.json"
if command -v python3 >/dev/null; then
  python3 - "$tmp/bench.json" <<'PY' || { echo "FAIL: bench JSON"; fails=$((fails + 1)); }
import json, sys
d = json.load(open(sys.argv[1]))
names = [r["mask"] for r in d["results"]]
assert names[0] == "full" and len(names) == 6, names
assert d["ok"] is True and d["check_rows"] == 32 and d["seed"] == 0
for r in d["results"]:
    assert r["ok"] and all(r["check"][q] <= d["check_tolerance"][q] for q in r["check"]), r
    for p in ("fwd", "bwd"):
        assert r[p]["ms"] > 0 and r[p]["calls"] >= 3 and r[p]["flops_per_s"] > 0, r
        assert abs(r[p]["flops"] - 2 * 4 * r["cells"] * ((16 + 8) if p == "fwd" else (48 + 16))) < 1
assert d["results"][0]["fwd"]["rate_of_full"] == 1 and d["heads_kv"] == 2
PY
fi
expect 0 "float64" bench --device cpu --dtype float64 --seqlen 1 --budget-ms 1 --masks causal
expect 0 "deterministic" bench --device cpu --dtype bfloat16 --seqlen 100 --heads 2 --budget-ms 1 \
  --masks swa_causal --passes bwd --deterministic
expect 0 "ok" bench --device cpu --slices "$tmp/ok.json" --heads 1 --head-dim 8 --budget-ms 1
expect 2 "--device = 'gpu'" bench --device gpu
expect 2 "--device = 'cuda:x'" bench --device cuda:x
expect 2 "'bogus' is not a preset" bench --masks full,bogus
expect 2 "--passes = 'both'" bench --passes both
expect 2 "--seqlen: not used with --slices" bench --slices "$tmp/ok.json" --seqlen 8
expect 2 "GiB are available" bench --device cpu --seqlen 2147483648
expect 2 "--budget-ms = 0" bench --budget-ms 0
expect 2 "--masks: empty" bench --masks ""
expect 2 "--json: empty file name" bench --json ""
expect 2 "--json '/nonexistent/b.json': cannot write" bench --device cpu --json /nonexistent/b.json
expect 0 "check: none" bench --device cpu --seqlen 16 --heads 1 --masks causal --budget-ms 1 \
  --check-rows 0 --json "$tmp/nocheck.json"
if command -v python3 >/dev/null; then
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert all(r["check"] is None for r in d["results"])' \
    "$tmp/nocheck.json" || { echo "FAIL: bench --check-rows 0 JSON"; fails=$((fails + 1)); }
fi
expect 2 "unknown command 'frob' (commands: demo, plan, simulate, bench)" frob
# Without the CUDA kernels or a GPU, --device cuda is a usage error that says which.
out=$(timeout 60 "$bin" bench --device cuda --seqlen 64 --heads 2 --budget-ms 1 2>&1)
status=$?
if ! { [ $status = 0 ] || { [ $status = 2 ] && [[ "$out" == *"--device cuda: "* ]]; }; }; then
  echo "FAIL: bench --device cuda: status $status: $(echo "$out" | tail -2)"
  fails=$((fails + 1))
fi

if [ $fails -ne 0 ]; then
  echo "$fails check(s) failed"
  exit 1
fi
echo "all magi-attn checks passed"
