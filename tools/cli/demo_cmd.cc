// magi-attn demo, the main job: a mask over N simulated CP ranks (threads), dispatch ->
// calc_attn forward and backward -> undispatch, timed, and checked two ways:
//   1. against single-device attention in float64 (every element of out, lse, dq, dk, dv);
//   2. against textbook dense attention (materialised mask row, softmax, float64) on sampled
//      query rows (out, lse, dq), which shares no code with the kernels.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <optional>
#include <random>
#include <vector>

#include "commands.h"
#include "cpu_calibration.h"
#include "demo_check.h"
#include "demo_predict.h"
#include "kernels/cpu/parallel.h"
#include "magi/dist_attn.h"
#include "magi/ffa.h"
#include "options.h"
#include "resources.h"
#include "stage_times.h"
#include "usage_error.h"

namespace magi::cli {
namespace {

using Clock = std::chrono::steady_clock;
double secs(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

constexpr int64_t kMaxRanks = 4096;  // simulated ranks are threads

struct Request {
  Mask mask;
  int64_t cp = 0, hq = 0, hkv = 0, hd = 0, chunk = 0, samples = 0, threads = 0, repeats = 1;
  int64_t hdv = 0;  // v's head dim (= hd but for MLA-like shapes)
  bool predict = false;
  DType dtype = DType::kFloat32;
  DistAttnConfig cfg;
};

/// Memory of one run, in bytes (an estimate on the high side).
double demo_bytes(const Request& r) {
  const double S = static_cast<double>(r.mask.seqlen), cp = static_cast<double>(r.cp);
  // Per tensor pair: q and out / dout (hd, hdv), k and v (hd, hdv): the means cover both.
  const double eq = S * r.hq * 0.5 * (r.hd + r.hdv), ek = S * r.hkv * 0.5 * (r.hd + r.hdv);
  const double dsz = static_cast<double>(dtype_size(r.dtype));
  const double acc = r.dtype == DType::kFloat64 ? 8 : 4;
  return 8 * (2 * eq + 2 * ek)              // the inputs as doubles
         + dsz * (4 * eq + 4 * ek)          // global inputs, results
         + 2 * dsz * (4 * eq + 4 * ek)      // the ranks' shards and exchanged rows (padding: x2)
         + (cp - 1) * dsz * eq              // every other rank's undispatch target
         + cp * 3 * acc * ek                // the kernels' packed K / V, per rank
         + 8 * (4 * eq + 4 * ek) + 24 * ek  // the float64 reference
         + plan_bytes(r.mask.slices, r.chunk, r.cp, r.cp);  // every rank plans at once
}

Request make_request(const Args& a) {
  Request r;
  r.mask = mask_from_args(a);
  const int64_t S = r.mask.seqlen;
  r.cp = a.integer("cp", 1, kMaxRanks);
  if (r.cp > S) {
    throw UsageError("--cp = " + std::to_string(r.cp) + ": more ranks than tokens (seqlen " +
                     std::to_string(S) + ")");
  }
  r.hq = a.integer("heads", 1, 1024);
  r.hkv = a.has("heads-kv") ? a.integer("heads-kv", 1, r.hq) : r.hq;
  if (r.hq % r.hkv != 0) {
    throw UsageError("--heads-kv = " + std::to_string(r.hkv) +
                     ": must divide --heads = " + std::to_string(r.hq));
  }
  r.hd = a.integer("head-dim", 1, 1024);
  r.hdv = a.has("head-dim-v") ? a.integer("head-dim-v", 1, 1024) : r.hd;
  const std::vector<std::string> dtypes = {"float32", "float64"};
  r.dtype = a.choice("dtype", dtypes) == "float64" ? DType::kFloat64 : DType::kFloat32;
  r.chunk = a.has("chunk") ? a.integer("chunk", 1, S) : default_chunk_size(S, r.cp);
  r.samples = a.integer("check-rows", 0, 1 << 20);
  r.threads = a.has("threads") ? a.integer("threads", 1, 1024) : 0;
  r.predict = a.has("predict");
  r.repeats = a.has("repeat") ? a.integer("repeat", 1, 100) : (r.predict ? 3 : 1);
  if (r.predict && r.cp < 2) {
    throw UsageError("--predict: needs --cp >= 2 (cp = " + std::to_string(r.cp) + ")");
  }
  if (r.predict && r.hdv != r.hd) {
    throw UsageError("--predict: the cost model takes one head dim (--head-dim-v = " +
                     std::to_string(r.hdv) + ", --head-dim = " + std::to_string(r.hd) + ")");
  }
  r.cfg = config_from_args(a);
  check_memory(demo_bytes(r), "the demo with seqlen " + std::to_string(S) + ", " +
                                  std::to_string(r.hq) + " heads, head_dim " +
                                  std::to_string(r.hd) + " and cp " + std::to_string(r.cp));
  return r;
}

struct Results {
  Tensor out, lse, dq, dk, dv;
  // Per repetition and rank: the passes cut into stages, and (--predict) the model's inputs
  // timed by the rank threads just before the passes.
  std::vector<std::vector<MeasuredPass>> fwd_runs, bwd_runs;
  std::vector<std::vector<KernelTimings>> calibration;
  size_t best = 0;  // the fastest repetition (forward + backward of the slowest rank)
  std::optional<DispatchMeta> dispatch_meta;
};

/// The distributed pipeline over simulated ranks; rank 0's undispatched results.
Results run_ranks(const Request& rq, const Tensor& Q, const Tensor& K, const Tensor& V,
                  const Tensor& dO) {
  const int64_t S = rq.mask.seqlen, hq = rq.hq, hkv = rq.hkv, hd = rq.hd, hdv = rq.hdv;
  const int64_t cp = rq.cp;
  const DType dt = rq.dtype;
  // NOTE: lse in the accumulation dtype: fp32 lse would cap a float64 run at ~1e-7.
  const DType lt = dt == DType::kFloat64 ? DType::kFloat64 : DType::kFloat32;
  Results res;
  res.out = make_tensor(dt, {S, hq, hdv}, {});
  res.lse = make_tensor(lt, {S, hq}, {});
  res.dq = make_tensor(dt, {S, hq, hd}, {});
  res.dk = make_tensor(dt, {S, hkv, hd}, {});
  res.dv = make_tensor(dt, {S, hkv, hdv}, {});
  std::mutex print_mu;
  std::vector<double> plan_s(cp);
  const size_t reps = static_cast<size_t>(rq.repeats);
  res.fwd_runs.assign(reps, std::vector<MeasuredPass>(cp));
  res.bwd_runs.assign(reps, std::vector<MeasuredPass>(cp));
  res.calibration.assign(reps, std::vector<KernelTimings>(cp));
  run_local_ranks(cp, [&](Communicator& base) {
    RecordingComm comm(base);
    const int64_t r = comm.rank();
    const auto t0 = Clock::now();
    const auto rt = make_flex_key(rq.mask.slices, S, S, hq, hkv, hd, comm, rq.cfg, rq.chunk);
    plan_s[r] = secs(t0, Clock::now());
    const int64_t n = rt->shard_seqlen();
    Tensor q = make_tensor(dt, {n, hq, hd}, {}), k = make_tensor(dt, {n, hkv, hd}, {}),
           v = make_tensor(dt, {n, hkv, hdv}, {}), d_o = make_tensor(dt, {n, hq, hdv}, {});
    dispatch(*rt, Q.view, q.view);
    dispatch(*rt, K.view, k.view);
    dispatch(*rt, V.view, v.view);
    dispatch(*rt, dO.view, d_o.view);
    Tensor o = make_tensor(dt, {n, hq, hdv}, {}), l = make_tensor(lt, {n, hq}, {});
    Tensor gq = make_tensor(dt, {n, hq, hd}, {}), gk = make_tensor(dt, {n, hkv, hd}, {}),
           gv = make_tensor(dt, {n, hkv, hdv}, {});
    const int64_t stages = static_cast<int64_t>(rt->rank_plan().stages.size());
    for (size_t it = 0; it < reps; ++it) {
      // NOTE: with --predict each repetition first times the model's inputs on all ranks at
      // once (same threads, same moment as the passes), and the ranks start each pass
      // together, as the model assumes.
      if (rq.predict) res.calibration[it][r] = time_rank_kernels(comm, n, hq, hkv, hd, dt);
      if (rq.predict) barrier(comm);
      comm.start_pass();
      calc_attn(*rt, comm, q.view, k.view, v.view, {}, o.view, l.view);
      res.fwd_runs[it][r] = forward_stages(comm.events(), stages, comm.now());
      if (rq.predict) barrier(comm);
      comm.start_pass();
      calc_attn_backward(*rt, comm, q.view, k.view, v.view, o.view, l.view, d_o.view, {}, gq.view,
                         gk.view, gv.view);
      res.bwd_runs[it][r] = backward_stages(comm.events(), stages, comm.now());
    }
    // Every rank takes part in the gathers; rank 0's copy is the result, the others gather
    // into one scratch buffer in turn, as large as the largest (out or dq: q's and v's head
    // dims may differ).
    std::vector<std::byte> scratch(r == 0 ? 0 : std::max(res.out.raw.size(), res.dq.raw.size()));
    auto target = [&](const Tensor& t) {
      TensorView v = t.view;
      if (r != 0) v.data = scratch.data();
      return v;
    };
    undispatch(*rt, comm, o.view, target(res.out));
    undispatch(*rt, comm, l.view, target(res.lse));
    undispatch(*rt, comm, gq.view, target(res.dq));
    undispatch(*rt, comm, gk.view, target(res.dk));
    undispatch(*rt, comm, gv.view, target(res.dv));
    std::lock_guard lock(print_mu);
    if (r == 0) res.dispatch_meta = rt->dispatch_meta();
    const RankPlan& rp = rt->rank_plan();
    std::printf("  rank %lld: cells %lld (host %lld, remote %lld), recv rows per stage:",
                (long long)r, (long long)(rp.host_area + rp.remote_area), (long long)rp.host_area,
                (long long)rp.remote_area);
    for (const StagePlan& st : rp.stages) std::printf(" %lld", (long long)st.num_recv());
    std::printf("\n");
  });
  double best_t = INFINITY, fwd = 0, bwd = 0;
  for (size_t it = 0; it < reps; ++it) {
    double f = 0, b = 0;
    for (int64_t r = 0; r < cp; ++r) {
      f = std::max(f, res.fwd_runs[it][r].end_s);
      b = std::max(b, res.bwd_runs[it][r].end_s);
    }
    if (f + b < best_t) best_t = f + b, res.best = it, fwd = f, bwd = b;
  }
  double comm_total = 0;  // inside the passes' waits
  for (int64_t r = 0; r < cp; ++r) {
    comm_total += res.fwd_runs[res.best][r].wait_s + res.bwd_runs[res.best][r].wait_s;
  }
  std::printf("plan (key creation, rank 0): %.2f ms\n", plan_s[0] * 1e3);
  std::printf(
      "forward %.3f s, backward %.3f s (slowest rank); %.1f%% of rank time waiting on "
      "exchanges; %.0f tokens/s per rank (fwd+bwd)\n",
      fwd, bwd, 100.0 * comm_total / (cp * (fwd + bwd)), S / cp / (fwd + bwd));
  return res;
}

}  // namespace

std::vector<Option> demo_options() {
  return mask_options("8192") +
         std::vector<Option>{
             {"cp", "N", "4", "simulated CP ranks (threads), 1 .. min(seqlen, 4096)"},
             {"chunk", "N", "auto",
              "dispatch chunk size (auto: ceil(seqlen / (m cp)), <= 512, m = "
              "MAGI_ATTENTION_MIN_CHUNKS_PER_RANK or 8)"},
             {"heads", "N", "8", "query heads"},
             {"heads-kv", "N", "= --heads", "key/value heads (GQA), must divide --heads"},
             {"head-dim", "N", "64", "head dimension (of q and k)"},
             {"head-dim-v", "N", "= --head-dim", "head dimension of v (MLA: 192 / 128)"},
             {"dtype", "T", "float32", "float32 or float64"},
             {"threads", "N", "all cores", "CPU kernel threads per rank"},
             {"check-rows", "N", "64", "rows checked against textbook dense attention"},
             {"predict", "", "",
              "per-stage times, measured and predicted by the cost model of 'simulate' with "
              "inputs timed on this machine (cp >= 2)"},
             {"repeat", "N", "3 with --predict, else 1",
              "run the passes N times and report the fastest"}} +
         config_options();
}

int run_demo(const Args& a) {
  const Request rq = make_request(a);
  if (rq.threads > 0) cpu::set_num_threads(static_cast<int>(rq.threads));
  const int64_t S = rq.mask.seqlen, hq = rq.hq, hkv = rq.hkv, hd = rq.hd, hdv = rq.hdv;
  const OverlapConfig& oc = rq.cfg.overlap_config;
  const std::string dims =
      std::to_string(hd) + (hdv == hd ? "" : " (v: " + std::to_string(hdv) + ")");
  std::printf(
      "magi-attn demo: mask %s, seqlen %lld, %zu slices, cp %lld, heads %lld/%lld, "
      "head_dim %s, %s, chunk %lld, overlap degree %s\n",
      rq.mask.name.c_str(), (long long)S, rq.mask.slices.size(), (long long)rq.cp, (long long)hq,
      (long long)hkv, dims.c_str(), std::string(to_string(rq.dtype)).c_str(), (long long)rq.chunk,
      oc.degree ? std::to_string(*oc.degree).c_str() : "dynamic");
  std::mt19937_64 rng(1234);
  std::normal_distribution<double> normal(0.0, 1.0);
  auto randn = [&](int64_t n) {
    std::vector<double> v(n);
    for (double& x : v) x = normal(rng);
    return v;
  };
  const DType dt = rq.dtype;
  // NOTE: the float64 copies hold the values rounded to dt, so rounding is not counted as error.
  auto rounded = [&](std::vector<double> v) {
    if (dt == DType::kFloat32) {
      for (double& x : v) x = static_cast<float>(x);
    }
    return v;
  };
  const auto qv = rounded(randn(S * hq * hd)), kv = rounded(randn(S * hkv * hd)),
             vv = rounded(randn(S * hkv * hdv)), dov = rounded(randn(S * hq * hdv));
  const Tensor Q = make_tensor(dt, {S, hq, hd}, qv), K = make_tensor(dt, {S, hkv, hd}, kv),
               V = make_tensor(dt, {S, hkv, hdv}, vv), dO = make_tensor(dt, {S, hq, hdv}, dov);
  const Results got = run_ranks(rq, Q, K, V, dO);
  if (rq.predict) {
    const DispatchMeta& d = *got.dispatch_meta;
    const Plan plan = make_plan(rq.mask.slices, d, rq.cfg.overlap_config);
    const sim::ClusterDesc cluster =
        local_group_cluster(got.calibration[got.best], d.shard_seqlen(0), hq, hd);
    sim::AttnShape shape;
    shape.heads_q = hq;
    shape.heads_kv = hkv;
    shape.head_dim = hd;
    shape.elem_bytes = shape.acc_bytes = static_cast<int64_t>(dtype_size(dt));
    print_prediction(plan, cluster, shape, got.fwd_runs[got.best], got.bwd_runs[got.best]);
  }

  // 1. single device, float64.
  const auto t0 = Clock::now();
  const DType f64 = DType::kFloat64;
  Tensor Q64 = make_tensor(f64, {S, hq, hd}, qv), K64 = make_tensor(f64, {S, hkv, hd}, kv),
         V64 = make_tensor(f64, {S, hkv, hdv}, vv), dO64 = make_tensor(f64, {S, hq, hdv}, dov);
  Tensor o64 = make_tensor(f64, {S, hq, hdv}, {}), l64 = make_tensor(f64, {S, hq}, {});
  Tensor dq64 = make_tensor(f64, {S, hq, hd}, {}), dk64 = make_tensor(f64, {S, hkv, hd}, {}),
         dv64 = make_tensor(f64, {S, hkv, hdv}, {});
  ffa_forward(Q64.view, K64.view, V64.view, rq.mask.slices, {}, o64.view, l64.view);
  ffa_backward(Q64.view, K64.view, V64.view, o64.view, l64.view, dO64.view, rq.mask.slices, {},
               dq64.view, dk64.view, dv64.view);
  std::printf("single-device float64 reference: %.2f s\n", secs(t0, Clock::now()));
  const double errs[5] = {scaled_err(got.out, o64), scaled_err(got.lse, l64),
                          scaled_err(got.dq, dq64), scaled_err(got.dk, dk64),
                          scaled_err(got.dv, dv64)};
  std::printf(
      "max error vs single device (max|diff| / max(1, max|ref|)): out %.2e  lse %.2e  dq %.2e  "
      "dk %.2e  dv %.2e\n",
      errs[0], errs[1], errs[2], errs[3], errs[4]);

  // 2. textbook dense attention on sampled rows.
  const double dense_err = dense_check({qv, kv, vv, dov, S, hq, hkv, hd, hdv}, rq.mask.slices,
                                       got.out, got.lse, got.dq, rq.samples, rng);
  std::printf(
      "max error vs dense textbook attention on %lld sampled (row, head) pairs "
      "(out, lse, dq; |diff| / max(1, |ref|)): %.2e\n",
      (long long)rq.samples, dense_err);
  const double tol = dt == DType::kFloat64 ? 1e-10 : 1e-4;
  const bool ok = dense_err <= tol &&
                  std::all_of(std::begin(errs), std::end(errs), [&](double e) { return e <= tol; });
  std::printf("%s (tolerance %.0e)\n", ok ? "PASS" : "FAIL", tol);
  return ok ? 0 : 1;
}

}  // namespace magi::cli
