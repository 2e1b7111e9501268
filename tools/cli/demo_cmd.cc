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

#include "args.h"
#include "commands.h"
#include "cpu_calibration.h"
#include "demo_predict.h"
#include "magi/dist_attn.h"
#include "magi/ffa.h"
#include "options.h"
#include "presets.h"
#include "stage_times.h"

namespace magi::cli {

namespace {

using Clock = std::chrono::steady_clock;
double secs(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct Tensor {
  std::vector<std::byte> raw;
  TensorView view;
};

// A tensor of `dtype` holding `values` (converted), or zeros when values is empty.
Tensor make_tensor(DType dtype, std::initializer_list<int64_t> shape,
                   const std::vector<double>& values) {
  Tensor t;
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  t.raw.resize(static_cast<size_t>(n) * dtype_size(dtype));
  t.view = TensorView::contiguous(t.raw.data(), dtype, shape);
  for (int64_t i = 0; i < n && !values.empty(); ++i) {
    if (dtype == DType::kFloat64)
      reinterpret_cast<double*>(t.raw.data())[i] = values[i];
    else
      reinterpret_cast<float*>(t.raw.data())[i] = static_cast<float>(values[i]);
  }
  return t;
}

double at(const Tensor& t, int64_t i) {
  return t.view.dtype == DType::kFloat64 ? reinterpret_cast<const double*>(t.raw.data())[i]
                                         : reinterpret_cast<const float*>(t.raw.data())[i];
}

// max |a - b| / max |b| over all elements (lse: only finite entries; -inf must match).
double rel_err(const Tensor& a, const Tensor& b) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < b.view.numel(); ++i) {
    const double x = at(a, i), y = at(b, i);
    if (std::isinf(y) || std::isinf(x)) {
      if (x != y) return INFINITY;
      continue;
    }
    num = std::max(num, std::abs(x - y));
    den = std::max(den, std::abs(y));
  }
  return den > 0 ? num / den : num;
}

}  // namespace

int run_demo(const Args& a) {
  const Mask mask = mask_from_args(a, 8192);
  const int64_t cp = a.integer("cp", 4), hq = a.integer("heads", 8);
  const int64_t hkv = a.integer("heads-kv", hq), hd = a.integer("head-dim", 64);
  const std::string dtype_name = a.str("dtype", "float32");
  MAGI_CHECK(dtype_name == "float32" || dtype_name == "float64", "--dtype = '", dtype_name,
             "': the demo runs float32 or float64");
  const DType dtype = dtype_name == "float64" ? DType::kFloat64 : DType::kFloat32;
  const int64_t chunk = a.integer("chunk", default_chunk_size(mask.seqlen, cp));
  const DistAttnConfig cfg = config_from_args(a);
  const int64_t samples = a.integer("check-rows", 64);
  const bool predict = a.has("predict");
  const int64_t repeats = a.integer("repeat", predict ? 3 : 1);
  a.check_all_used();
  MAGI_CHECK(repeats >= 1, "--repeat = ", repeats, ": must be >= 1");
  MAGI_CHECK(!predict || cp >= 2, "--predict: needs --cp >= 2 (cp = ", cp, ")");
  const int64_t S = mask.seqlen;

  std::printf(
      "magi-attn demo: mask %s, seqlen %lld, %zu slices, cp %lld, heads %lld/%lld, "
      "head_dim %lld, %s, chunk %lld, overlap degree %s\n",
      mask.name.c_str(), (long long)S, mask.slices.size(), (long long)cp, (long long)hq,
      (long long)hkv, (long long)hd, dtype_name.c_str(), (long long)chunk,
      cfg.overlap_config.degree ? std::to_string(*cfg.overlap_config.degree).c_str() : "dynamic");
  std::mt19937_64 rng(1234);
  std::normal_distribution<double> normal(0.0, 1.0);
  auto randn = [&](int64_t n) {
    std::vector<double> v(n);
    for (double& x : v) x = normal(rng);
    return v;
  };
  const auto qv = randn(S * hq * hd), kv = randn(S * hkv * hd), vv = randn(S * hkv * hd),
             dov = randn(S * hq * hd);
  Tensor Q = make_tensor(dtype, {S, hq, hd}, qv), K = make_tensor(dtype, {S, hkv, hd}, kv),
         V = make_tensor(dtype, {S, hkv, hd}, vv), dO = make_tensor(dtype, {S, hq, hd}, dov);
  Tensor out = make_tensor(dtype, {S, hq, hd}, {}), lse = make_tensor(DType::kFloat32, {S, hq}, {});
  Tensor dq = make_tensor(dtype, {S, hq, hd}, {}), dk = make_tensor(dtype, {S, hkv, hd}, {}),
         dv = make_tensor(dtype, {S, hkv, hd}, {});

  std::mutex print_mu;
  std::vector<double> plan_s(cp);
  // Per repetition and rank.
  std::vector<std::vector<MeasuredPass>> fwd_runs(repeats, std::vector<MeasuredPass>(cp)),
      bwd_runs(repeats, std::vector<MeasuredPass>(cp));
  std::vector<std::vector<KernelTimings>> calibration(repeats, std::vector<KernelTimings>(cp));
  std::optional<DispatchMeta> dispatch_meta;
  run_local_ranks(cp, [&](Communicator& base) {
    RecordingComm comm(base);
    const int64_t r = comm.rank();
    const auto t0 = Clock::now();
    const auto rt = make_flex_key(mask.slices, S, S, hq, hkv, hd, comm, cfg, chunk);
    plan_s[r] = secs(t0, Clock::now());
    const int64_t n = rt->shard_seqlen();
    Tensor q = make_tensor(dtype, {n, hq, hd}, {}), k = make_tensor(dtype, {n, hkv, hd}, {}),
           v = make_tensor(dtype, {n, hkv, hd}, {}), d_o = make_tensor(dtype, {n, hq, hd}, {});
    dispatch(*rt, Q.view, q.view);
    dispatch(*rt, K.view, k.view);
    dispatch(*rt, V.view, v.view);
    dispatch(*rt, dO.view, d_o.view);
    Tensor o = make_tensor(dtype, {n, hq, hd}, {}), l = make_tensor(DType::kFloat32, {n, hq}, {});
    Tensor gq = make_tensor(dtype, {n, hq, hd}, {}), gk = make_tensor(dtype, {n, hkv, hd}, {}),
           gv = make_tensor(dtype, {n, hkv, hd}, {});
    const int64_t stages = static_cast<int64_t>(rt->rank_plan().stages.size());
    for (int64_t it = 0; it < repeats; ++it) {
      // NOTE: with --predict each repetition first times the model's inputs on all ranks at
      // once (same threads, same moment as the passes), and the ranks start each pass
      // together, as the model assumes.
      if (predict) calibration[it][r] = time_rank_kernels(comm, n, hq, hkv, hd, dtype);
      if (predict) barrier(comm);
      comm.start_pass();
      calc_attn(*rt, comm, q.view, k.view, v.view, {}, o.view, l.view);
      fwd_runs[it][r] = forward_stages(comm.events(), stages, comm.now());
      if (predict) barrier(comm);
      comm.start_pass();
      calc_attn_backward(*rt, comm, q.view, k.view, v.view, o.view, l.view, d_o.view, {}, gq.view,
                         gk.view, gv.view);
      bwd_runs[it][r] = backward_stages(comm.events(), stages, comm.now());
    }
    // Every rank takes part in the gathers; rank 0's copy is the result.
    Tensor go = make_tensor(dtype, {S, hq, hd}, {}), gl = make_tensor(DType::kFloat32, {S, hq}, {});
    Tensor gdq = make_tensor(dtype, {S, hq, hd}, {}), gdk = make_tensor(dtype, {S, hkv, hd}, {}),
           gdv = make_tensor(dtype, {S, hkv, hd}, {});
    undispatch(*rt, comm, o.view, r == 0 ? out.view : go.view);
    undispatch(*rt, comm, l.view, r == 0 ? lse.view : gl.view);
    undispatch(*rt, comm, gq.view, r == 0 ? dq.view : gdq.view);
    undispatch(*rt, comm, gk.view, r == 0 ? dk.view : gdk.view);
    undispatch(*rt, comm, gv.view, r == 0 ? dv.view : gdv.view);
    std::lock_guard lock(print_mu);
    if (r == 0) dispatch_meta = rt->dispatch_meta();
    const RankPlan& rp = rt->rank_plan();
    std::printf("  rank %lld: cells %lld (host %lld, remote %lld), recv rows per stage:",
                (long long)r, (long long)(rp.host_area + rp.remote_area), (long long)rp.host_area,
                (long long)rp.remote_area);
    for (const StagePlan& st : rp.stages) std::printf(" %lld", (long long)st.num_recv());
    std::printf("\n");
  });
  // The fastest repetition (forward + backward of the slowest rank) is reported.
  size_t best = 0;
  double best_t = INFINITY;
  for (size_t it = 0; it < fwd_runs.size(); ++it) {
    double f = 0, b = 0;
    for (int64_t r = 0; r < cp; ++r) {
      f = std::max(f, fwd_runs[it][r].end_s);
      b = std::max(b, bwd_runs[it][r].end_s);
    }
    if (f + b < best_t) best_t = f + b, best = it;
  }
  const std::vector<MeasuredPass>& fwd_stages = fwd_runs[best];
  const std::vector<MeasuredPass>& bwd_stages = bwd_runs[best];
  double fwd = 0, bwd = 0;
  for (int64_t r = 0; r < cp; ++r) {
    fwd = std::max(fwd, fwd_stages[r].end_s);
    bwd = std::max(bwd, bwd_stages[r].end_s);
  }
  double comm_total = 0;  // inside the passes' waits
  for (int64_t r = 0; r < cp; ++r) comm_total += fwd_stages[r].wait_s + bwd_stages[r].wait_s;
  std::printf("plan (key creation, rank 0): %.2f ms\n", plan_s[0] * 1e3);
  std::printf(
      "forward %.3f s, backward %.3f s (slowest rank); %.1f%% of rank time waiting on "
      "exchanges; %.0f tokens/s per rank (fwd+bwd)\n",
      fwd, bwd, 100.0 * comm_total / (cp * (fwd + bwd)), S / cp / (fwd + bwd));
  if (predict) {
    const Plan plan = make_plan(mask.slices, *dispatch_meta, cfg.overlap_config);
    const sim::ClusterDesc cluster =
        local_group_cluster(calibration[best], dispatch_meta->shard_seqlen(), hq, hd);
    sim::AttnShape shape;
    shape.heads_q = hq;
    shape.heads_kv = hkv;
    shape.head_dim = hd;
    shape.elem_bytes = shape.acc_bytes = static_cast<int64_t>(dtype_size(dtype));
    print_prediction(plan, cluster, shape, fwd_stages, bwd_stages);
  }

  // 1. single device, float64.
  const auto t0 = Clock::now();
  Tensor Q64 = make_tensor(DType::kFloat64, {S, hq, hd}, qv),
         K64 = make_tensor(DType::kFloat64, {S, hkv, hd}, kv),
         V64 = make_tensor(DType::kFloat64, {S, hkv, hd}, vv),
         dO64 = make_tensor(DType::kFloat64, {S, hq, hd}, dov);
  Tensor o64 = make_tensor(DType::kFloat64, {S, hq, hd}, {}),
         l64 = make_tensor(DType::kFloat64, {S, hq}, {});
  Tensor dq64 = make_tensor(DType::kFloat64, {S, hq, hd}, {}),
         dk64 = make_tensor(DType::kFloat64, {S, hkv, hd}, {}),
         dv64 = make_tensor(DType::kFloat64, {S, hkv, hd}, {});
  ffa_forward(Q64.view, K64.view, V64.view, mask.slices, {}, o64.view, l64.view);
  ffa_backward(Q64.view, K64.view, V64.view, o64.view, l64.view, dO64.view, mask.slices, {},
               dq64.view, dk64.view, dv64.view);
  std::printf("single-device float64 reference: %.2f s\n", secs(t0, Clock::now()));
  const double errs[5] = {rel_err(out, o64), rel_err(lse, l64), rel_err(dq, dq64),
                          rel_err(dk, dk64), rel_err(dv, dv64)};
  std::printf(
      "max error vs single device (max|diff| / max|ref|): out %.2e  lse %.2e  dq %.2e  "
      "dk %.2e  dv %.2e\n",
      errs[0], errs[1], errs[2], errs[3], errs[4]);

  // 2. textbook dense attention on sampled rows.
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  double dense_err = 0;
  std::vector<uint8_t> row_mask(S);
  for (int64_t t = 0; t < samples; ++t) {
    const int64_t row = static_cast<int64_t>(rng() % S), h = static_cast<int64_t>(rng() % hq);
    const int64_t g = h / (hq / hkv);
    std::fill(row_mask.begin(), row_mask.end(), 0);
    for (const AttnSlice& s : mask.slices) {
      if (!s.q.contains(row)) continue;
      const int64_t i = row - s.q.start, sq = s.q.size(), sk = s.k.size();
      for (int64_t j = 0; j < sk; ++j) {
        const bool up = s.type == AttnMaskType::kCausal || s.type == AttnMaskType::kBiCausal;
        const bool lo = s.type == AttnMaskType::kInvCausal || s.type == AttnMaskType::kBiCausal;
        if ((!up || j <= i + sk - sq) && (!lo || j >= i)) row_mask[s.k.start + j] = 1;
      }
    }
    std::vector<double> p(S, 0.0);
    double mx = -INFINITY;
    for (int64_t c = 0; c < S; ++c) {
      if (!row_mask[c]) continue;
      double dot = 0;
      for (int64_t x = 0; x < hd; ++x)
        dot += qv[(row * hq + h) * hd + x] * kv[(c * hkv + g) * hd + x];
      p[c] = dot * scale;
      mx = std::max(mx, p[c]);
    }
    double sum = 0;
    for (int64_t c = 0; c < S; ++c) sum += row_mask[c] ? std::exp(p[c] - mx) : 0.0;
    const double ref_lse = sum > 0 ? mx + std::log(sum) : -INFINITY;
    const double got_lse = at(lse, row * hq + h);
    if (std::isinf(ref_lse)) {
      dense_err = std::max(dense_err, std::isinf(got_lse) && got_lse < 0 ? 0.0 : INFINITY);
      continue;
    }
    dense_err = std::max(dense_err, std::abs(got_lse - ref_lse) / std::max(1.0, std::abs(ref_lse)));
    std::vector<double> o(hd, 0.0), dq_ref(hd, 0.0), dp(S, 0.0);
    for (int64_t c = 0; c < S; ++c) {
      if (!row_mask[c]) continue;
      p[c] = std::exp(p[c] - ref_lse);
      for (int64_t x = 0; x < hd; ++x) {
        o[x] += p[c] * vv[(c * hkv + g) * hd + x];
        dp[c] += dov[(row * hq + h) * hd + x] * vv[(c * hkv + g) * hd + x];
      }
    }
    double dsum = 0;  // rowsum(dO * O), from this row's own out
    for (int64_t x = 0; x < hd; ++x) dsum += dov[(row * hq + h) * hd + x] * o[x];
    for (int64_t c = 0; c < S; ++c) {
      if (!row_mask[c]) continue;
      for (int64_t x = 0; x < hd; ++x)
        dq_ref[x] += p[c] * (dp[c] - dsum) * scale * kv[(c * hkv + g) * hd + x];
    }
    for (int64_t x = 0; x < hd; ++x) {
      dense_err = std::max(dense_err, std::abs(at(out, (row * hq + h) * hd + x) - o[x]));
      dense_err = std::max(dense_err, std::abs(at(dq, (row * hq + h) * hd + x) - dq_ref[x]) /
                                          std::max(1.0, std::abs(dq_ref[x])));
    }
  }
  std::printf(
      "max error vs dense textbook attention on %lld sampled (row, head) pairs "
      "(out, lse, dq): %.2e\n",
      (long long)samples, dense_err);
  const double tol = dtype == DType::kFloat64 ? 1e-10 : 1e-4;
  const bool ok = dense_err <= tol &&
                  std::all_of(std::begin(errs), std::end(errs), [&](double e) { return e <= tol; });
  std::printf("%s (tolerance %.0e)\n", ok ? "PASS" : "FAIL", tol);
  return ok ? 0 : 1;
}

}  // namespace magi::cli
