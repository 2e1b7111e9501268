// magi-attn bench: the FFA kernels' forward and backward on this machine's CPU or GPU, per mask,
// each checked against textbook attention in float64 before it is timed (bench_check.h). Rates
// count the mask's cells; every mask's rate is also given against the full mask's, timed in the
// same run (the issues' "own full-mask rate"). Peers (cuDNN, FlashAttention 2, FlexAttention)
// need torch: bench/bench_ffa.py times them beside FFA.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "bench_check.h"
#include "bench_device.h"
#include "commands.h"
#include "common/env.h"
#include "json.h"
#include "kernels/cpu/parallel.h"
#include "kernels/tensor_ops.h"
#include "magi/check.h"
#include "magi/ffa.h"
#include "options.h"
#include "presets.h"
#include "resources.h"
#include "slice_file.h"
#include "usage_error.h"

#ifndef MAGI_VERSION
#define MAGI_VERSION "unknown"
#endif

namespace magi::cli {
namespace {

struct Request {
  std::unique_ptr<BenchDevice> dev;
  bool cuda = false;
  std::vector<Mask> masks;  // the full mask first
  int64_t seqlen = 0, hq = 0, hkv = 0, hd = 0, hdv = 0, check_rows = 0;
  uint64_t seed = 0;
  DType dtype = DType::kFloat32;
  bool fwd = true, bwd = true;
  bool deterministic = false;  // --deterministic or MAGI_ATTENTION_DETERMINISTIC_MODE
  double budget_s = 1.0;
  std::string json;
};

/// The accumulators' dtype (lse, dq; dk and dv on the CPU).
DType acc_dtype(DType t) { return t == DType::kFloat64 ? DType::kFloat64 : DType::kFloat32; }

std::unique_ptr<BenchDevice> device_of(const std::string& dev) {
  if (dev == "auto") return cuda_bench_available() ? cuda_bench_device(0) : cpu_bench_device();
  if (dev == "cpu") return cpu_bench_device();
  if (dev == "cuda") return cuda_bench_device(0);
  if (dev.rfind("cuda:", 0) == 0) {
    int64_t index = 0;
    try {
      index = parse_integer("device", dev.substr(5), 0, 1023);
    } catch (const UsageError&) {
      throw UsageError("--device = '" + dev + "': expected cuda:N with N in [0, 1023]");
    }
    return cuda_bench_device(static_cast<int>(index));
  }
  throw UsageError("--device = '" + dev + "': expected auto, cpu, cuda or cuda:N");
}

/// Fails at once, not after the run, when FILE cannot be written (a file the probe made is
/// removed again).
void check_writable(const std::string& path) {
  std::error_code ec;  // NOTE: the non-throwing forms: a usage error, not an exception, below
  const bool existed = std::filesystem::exists(path, ec);
  if (!std::ofstream(path, std::ios::app)) throw UsageError("--json '" + path + "': cannot write");
  if (!existed) std::filesystem::remove(path, ec);
}

/// A tiny forward (and backward, when timed) with the run's dtype, head dims and mode, so that
/// a configuration the device's kernels refuse is a usage error before anything large is made.
void preflight(const BenchDevice& dev, const Request& r) {
  const DType acc = acc_dtype(r.dtype), grad_kv = r.cuda ? r.dtype : acc;
  const DeviceTensor q = dev.empty(r.dtype, {2, r.hq, r.hd}),
                     k = dev.empty(r.dtype, {2, r.hkv, r.hd}),
                     v = dev.empty(r.dtype, {2, r.hkv, r.hdv}),
                     o = dev.empty(r.dtype, {2, r.hq, r.hdv}), l = dev.empty(acc, {2, r.hq}),
                     dq = dev.empty(acc, {2, r.hq, r.hd}),
                     dk = dev.empty(grad_kv, {2, r.hkv, r.hd}),
                     dv = dev.empty(grad_kv, {2, r.hkv, r.hdv});
  for (const DeviceTensor* t : {&q, &k, &v, &dq, &dk, &dv}) fill(t->view, 0.0);
  const AttnSlice all{{0, 2}, {0, 2}, AttnMaskType::kFull};
  FfaOptions opts;
  opts.deterministic = r.deterministic;
  try {
    ffa_forward(q.view, k.view, v.view, std::span(&all, 1), opts, o.view, l.view);
    if (r.bwd) {
      ffa_backward(q.view, k.view, v.view, o.view, l.view, o.view, std::span(&all, 1), opts,
                   dq.view, dk.view, dv.view);
    }
  } catch (const Error& e) {
    throw UsageError("the kernels of " + dev.name() + " refuse these settings (--dtype, " +
                     "--head-dim, --head-dim-v, --deterministic): " + e.what());
  }
}

Request make_request(const Args& a) {
  Request r;
  r.dev = device_of(a.str("device"));
  r.cuda = r.dev->device().type == DeviceType::kCUDA;
  const std::vector<std::string> dtypes = {"float32", "float64", "bfloat16", "float16"};
  const std::string dt = a.has("dtype") ? a.choice("dtype", dtypes)
                         : r.cuda       ? "bfloat16"
                                        : "float32";
  r.dtype = dt == "float64"    ? DType::kFloat64
            : dt == "bfloat16" ? DType::kBFloat16
            : dt == "float16"  ? DType::kFloat16
                               : DType::kFloat32;
  if (r.cuda && (r.dtype == DType::kFloat32 || r.dtype == DType::kFloat64)) {
    throw UsageError("--dtype = '" + dt +
                     "': the CUDA kernels take bfloat16 or float16 (--device cpu takes any)");
  }
  if (a.has("threads")) cpu::set_num_threads(static_cast<int>(a.integer("threads", 1, 1024)));

  r.seed = static_cast<uint64_t>(a.integer("seed", 0, INT64_MAX));
  if (a.has("slices")) {
    for (const char* other : {"masks", "seqlen"}) {
      if (a.has(other)) {
        throw UsageError(std::string("--") + other + ": not used with --slices (the file " +
                         "gives the mask and its length)");
      }
    }
    Mask m = read_slice_file(a.str("slices"));
    r.seqlen = m.seqlen;
    r.masks = {make_preset("full", r.seqlen, 0), std::move(m)};
  } else {
    r.seqlen = a.has("seqlen") ? a.integer("seqlen", 1, kMaxSeqlen) : r.cuda ? 16384 : 4096;
    const std::vector<std::string> names = preset_names(), wanted = split_commas(a.str("masks"));
    if (wanted.empty()) throw UsageError("--masks: empty (name at least one preset)");
    r.masks.push_back(make_preset("full", r.seqlen, r.seed));
    for (const std::string& n : wanted) {
      if (std::find(names.begin(), names.end(), n) == names.end()) {
        std::string all;
        for (const std::string& x : names) all += (all.empty() ? "" : ", ") + x;
        throw UsageError("--masks: '" + n + "' is not a preset (" + all + ")");
      }
      const bool seen =
          std::any_of(r.masks.begin(), r.masks.end(), [&](const Mask& m) { return m.name == n; });
      if (!seen) r.masks.push_back(make_preset(n, r.seqlen, r.seed));
    }
  }
  r.hq = a.has("heads") ? a.integer("heads", 1, 1024) : r.cuda ? 16 : 8;
  r.hkv = a.has("heads-kv") ? a.integer("heads-kv", 1, r.hq) : r.hq;
  if (r.hq % r.hkv != 0) {
    throw UsageError("--heads-kv = " + std::to_string(r.hkv) +
                     ": must divide --heads = " + std::to_string(r.hq));
  }
  r.hd = a.has("head-dim") ? a.integer("head-dim", 1, 1024) : r.cuda ? 128 : 64;
  r.hdv = a.has("head-dim-v") ? a.integer("head-dim-v", 1, 1024) : r.hd;
  const std::string passes = a.str("passes");
  if (passes != "fwd" && passes != "bwd" && passes != "fwd,bwd") {
    throw UsageError("--passes = '" + passes + "': expected fwd, bwd or fwd,bwd");
  }
  r.fwd = passes != "bwd";
  r.bwd = passes != "fwd";
  r.deterministic = a.has("deterministic") || env::flag("MAGI_ATTENTION_DETERMINISTIC_MODE");
  r.budget_s = static_cast<double>(a.integer("budget-ms", 1, 3600000)) * 1e-3;
  r.check_rows = a.integer("check-rows", 0, 1 << 20);
  if (a.has("json")) {
    r.json = a.str("json");
    if (r.json.empty()) throw UsageError("--json: empty file name");
    check_writable(r.json);
  }

  // Memory (bytes, on the high side): the inputs kept as float64 for the check and the results
  // read back for it; on the device q, k, v, dout, out, lse and the gradients.
  const double S = static_cast<double>(r.seqlen);
  const double nq = S * r.hq * r.hd, nqv = S * r.hq * r.hdv, nk = S * r.hkv * r.hd,
               nkv = S * r.hkv * r.hdv;
  const double dsz = static_cast<double>(dtype_size(r.dtype)),
               asz = static_cast<double>(dtype_size(acc_dtype(r.dtype)));
  const double largest = std::max({nq, nqv, nk, nkv});
  const double host = 8 * (2 * (nq + nqv + nk + nkv) + S * r.hq) + (16 + dsz) * largest;
  const double device =
      dsz * (nq + 2 * nqv + nk + nkv) + asz * (S * r.hq + nq) + (r.cuda ? dsz : asz) * (nk + nkv);
  const std::string what = "the bench with seqlen " + std::to_string(r.seqlen) + ", heads " +
                           std::to_string(r.hq) + "/" + std::to_string(r.hkv) + " and head dims " +
                           std::to_string(r.hd) + "/" + std::to_string(r.hdv);
  // NOTE: x 1.25 for what the count leaves out (the CPU backward's per-thread scratch).
  check_memory(1.25 * (host + (r.cuda ? 0.0 : device)), what);
  const double free = r.dev->free_bytes();
  if (r.cuda && free > 0 && device > 0.9 * free) {
    char msg[160];
    std::snprintf(msg, sizeof msg, " needs about %.1f GiB of GPU memory, %.1f GiB are free",
                  device / (1 << 30), free / (1 << 30));
    throw UsageError(what + msg);
  }
  preflight(*r.dev, r);
  return r;
}

struct Timing {
  double median_s = 0, min_s = 0;
  int64_t calls = 0;
};

/// Calls `fn` in batches of at least a millisecond until `budget_s` has passed and at least
/// three batches ran; the median and the fastest batch's time per call.
Timing measure(const BenchDevice& dev, const std::function<void()>& fn, double budget_s) {
  const double one = dev.time(fn, 1);  // warms up too (the check ran every kernel already)
  const int batch = static_cast<int>(std::clamp(std::ceil(1e-3 / std::max(one, 1e-9)), 1.0, 1e4));
  std::vector<double> per_call;
  double spent = one;
  Timing t;
  t.calls = 1;
  while (spent < budget_s || per_call.size() < 3) {
    const double s = dev.time(fn, batch);
    per_call.push_back(s / batch);
    spent += s;
    t.calls += batch;
  }
  std::sort(per_call.begin(), per_call.end());
  t.median_s = per_call[per_call.size() / 2];
  t.min_s = per_call.front();
  return t;
}

struct MaskResult {
  std::string name;
  size_t slices = 0;
  int64_t cells = 0;
  bool checked = false, ok = true;
  CheckErrors err;
  double flops[2] = {0, 0};  // per call: forward, backward
  Timing time[2];            // calls == 0: not timed
  double rate(int p) const { return flops[p] / time[p].median_s; }
};

/// The check's errors; the gradients' are null when they were not checked (`grads` false).
std::string json_errors(const CheckErrors& e, bool grads) {
  auto grad = [&](double x) { return grads ? json_number(x) : std::string("null"); };
  return "{\"out\": " + json_number(e.out) + ", \"lse\": " + json_number(e.lse) +
         ", \"dq\": " + grad(e.dq) + ", \"dk\": " + grad(e.dk) + ", \"dv\": " + grad(e.dv) + "}";
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

/// The settings and results as one JSON object (results[0] is the full mask). An error is
/// null when infinite (a NaN, or a row that should be empty); "check" is null when not run.
void write_json(const Request& r, const std::vector<MaskResult>& res, bool ok) {
  std::ofstream f(r.json);
  if (!f) throw UsageError("--json '" + r.json + "': cannot write");
  const char* commit = std::getenv("MAGI_COMMIT");
  f << "{\"command\": \"magi-attn bench\", \"version\": " << json_quote(MAGI_VERSION)
    << ", \"commit\": " << (commit ? json_quote(commit) : "null")
    << ", \"date\": " << json_quote(utc_now()) << ", \"device\": " << json_quote(r.dev->name())
    << ", \"threads\": " << (r.cuda ? 0 : cpu::num_threads())
    << ", \"dtype\": " << json_quote(std::string(to_string(r.dtype)))
    << ", \"seqlen\": " << r.seqlen << ", \"seed\": " << r.seed << ", \"heads_q\": " << r.hq
    << ", \"heads_kv\": " << r.hkv << ", \"head_dim\": " << r.hd << ", \"head_dim_v\": " << r.hdv
    << ", \"deterministic\": " << (r.deterministic ? "true" : "false") << ", \"passes\": "
    << json_quote(r.fwd && r.bwd ? "fwd,bwd"
                  : r.fwd        ? "fwd"
                                 : "bwd")
    << ", \"budget_s\": " << json_number(r.budget_s) << ", \"check_rows\": " << r.check_rows
    << ", \"check_tolerance\": " << json_errors(check_tolerance(r.dtype), true)
    << ", \"ok\": " << (ok ? "true" : "false") << ", \"results\": [";
  for (size_t i = 0; i < res.size(); ++i) {
    const MaskResult& m = res[i];
    f << (i ? ", " : "") << "{\"mask\": " << json_quote(m.name) << ", \"slices\": " << m.slices
      << ", \"cells\": " << m.cells
      << ", \"check\": " << (m.checked ? json_errors(m.err, r.bwd) : std::string("null"))
      << ", \"ok\": " << (m.ok ? "true" : "false");
    for (int p = 0; p < 2; ++p) {
      const Timing& t = m.time[p];
      if (t.calls == 0) continue;
      f << ", \"" << (p ? "bwd" : "fwd") << "\": {\"ms\": " << json_number(t.median_s * 1e3)
        << ", \"min_ms\": " << json_number(t.min_s * 1e3) << ", \"calls\": " << t.calls
        << ", \"flops\": " << json_number(m.flops[p])
        << ", \"flops_per_s\": " << json_number(m.rate(p))
        << ", \"rate_of_full\": " << json_number(m.rate(p) / res[0].rate(p)) << "}";
    }
    f << "}";
  }
  f << "]}\n";
  if (!f) throw UsageError("--json '" + r.json + "': write failed");
}

/// "ok" or "FAIL", and the result whose error is the largest share of its tolerance.
std::string check_text(const MaskResult& m, const CheckErrors& tol) {
  struct Item {
    const char* name;
    double err, tol;
  };
  const Item items[] = {{"out", m.err.out, tol.out},
                        {"lse", m.err.lse, tol.lse},
                        {"dq", m.err.dq, tol.dq},
                        {"dk", m.err.dk, tol.dk},
                        {"dv", m.err.dv, tol.dv}};
  const Item* worst = &items[0];
  for (const Item& it : items) {
    if (it.err / it.tol > worst->err / worst->tol) worst = &it;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s %s %.1e", m.ok ? "ok  " : "FAIL", worst->name, worst->err);
  return buf;
}

}  // namespace

std::vector<Option> bench_options() {
  std::string presets;
  for (const std::string& n : preset_names()) presets += (presets.empty() ? "" : ",") + n;
  return {{"device", "NAME", "auto",
           "cpu, cuda or cuda:N (auto: cuda:0 where this build has the CUDA kernels and the "
           "machine a GPU, else cpu)"},
          {"masks", "LIST", presets,
           "comma-separated mask presets; the full mask is always timed first, as the rate every "
           "other mask is compared with"},
          {"slices", "FILE", "",
           "time the mask of a JSON slice file (magi-attn demo --help) beside the full mask, "
           "instead of --masks"},
          {"seqlen", "N", "4096 on the cpu, 16384 on cuda", "tokens, 1 .. 2^40"},
          {"seed", "N", "0", "seed of the presets' document lengths and of the checked rows"},
          {"heads", "N", "8 on the cpu, 16 on cuda", "query heads"},
          {"heads-kv", "N", "= --heads", "key/value heads (GQA), must divide --heads"},
          {"head-dim", "N", "64 on the cpu, 128 on cuda", "head dimension (of q and k)"},
          {"head-dim-v", "N", "= --head-dim", "head dimension of v"},
          {"dtype", "T", "float32 on the cpu, bfloat16 on cuda",
           "float32, float64, bfloat16 or float16 (cuda: the 16-bit ones)"},
          {"passes", "LIST", "fwd,bwd",
           "fwd, bwd or fwd,bwd (with fwd alone, the gradients are neither run nor checked)"},
          {"budget-ms", "N", "1000", "time spent calling each (mask, pass), at least 3 batches"},
          {"threads", "N", "all cores", "CPU kernel threads"},
          {"deterministic", "", "", "the backward's deterministic mode"},
          {"check-rows", "N", "32",
           "query rows (every head: out, lse, dq) and as many key rows (dk, dv) checked against "
           "textbook attention before timing: the first, last and middle rows, then random ones "
           "(0: no check)"},
          {"json", "FILE", "", "also write the settings and results as JSON to FILE"}};
}

int run_bench(const Args& a) {
  const Request r = make_request(a);
  const BenchDevice& dev = *r.dev;
  const int64_t S = r.seqlen, hq = r.hq, hkv = r.hkv, hd = r.hd, hdv = r.hdv;
  const DType dt = r.dtype, acc = acc_dtype(dt);
  const std::string dims =
      std::to_string(hd) + (hdv == hd ? "" : " (v: " + std::to_string(hdv) + ")");
  std::printf("magi-attn bench: %s, seqlen %lld, heads %lld/%lld, head_dim %s, %s%s\n",
              dev.name().c_str(), (long long)S, (long long)hq, (long long)hkv, dims.c_str(),
              std::string(to_string(dt)).c_str(), r.deterministic ? ", deterministic" : "");

  // Inputs: normal values rounded to the dtype, kept in float64 for the check.
  std::mt19937_64 rng(1234);
  std::normal_distribution<double> normal(0.0, 1.0);
  auto input = [&](std::initializer_list<int64_t> shape, std::vector<double>& keep) {
    DeviceTensor t = dev.empty(dt, shape);
    std::vector<double> v(static_cast<size_t>(t.view.numel()));
    for (double& x : v) x = normal(rng);
    dev.upload(v, t);
    keep = dev.download(t);  // the rounded values
    return t;
  };
  std::vector<double> qv, kv, vv, dov;
  const DeviceTensor q = input({S, hq, hd}, qv), k = input({S, hkv, hd}, kv),
                     v = input({S, hkv, hdv}, vv), dout = input({S, hq, hdv}, dov);
  const DeviceTensor out = dev.empty(dt, {S, hq, hdv}), lse = dev.empty(acc, {S, hq});
  // NOTE: on CUDA the gradients in q's dtype are overwritten (no fp32 round trip of the
  // caller's); on the CPU they are accumulators.
  const DType grad = r.cuda ? dt : acc;
  const DeviceTensor dq = dev.empty(grad, {S, hq, hd}), dk = dev.empty(grad, {S, hkv, hd}),
                     dv = dev.empty(grad, {S, hkv, hdv});
  FfaOptions opts;
  opts.deterministic = r.deterministic;
  auto clear_grads = [&] {
    if (!r.cuda) fill(dq.view, 0.0), fill(dk.view, 0.0), fill(dv.view, 0.0);
  };
  const std::vector<int64_t> rows = check_rows(S, r.check_rows, r.seed),
                             keys = check_rows(S, r.check_rows, r.seed + 1);
  const CheckErrors tol = check_tolerance(dt);

  const bool gflops = !r.cuda;
  const char* unit = gflops ? "GFLOP/s" : "TFLOP/s";
  const double unit_scale = gflops ? 1e-9 : 1e-12;
  std::printf("%-22s %14s %6s  %10s %9s %7s  %10s %9s %7s  %s\n", "mask", "cells", "of S^2",
              "fwd ms", unit, "of full", "bwd ms", unit, "of full", "check");
  std::vector<MaskResult> res;
  bool ok = true;
  for (const Mask& m : r.masks) {
    MaskResult mr;
    mr.name = m.name;
    mr.slices = m.slices.size();
    const FfaWork work(m.slices, S, S);
    mr.cells = union_area(work.slices());
    const double cells = static_cast<double>(mr.cells);
    mr.flops[0] = 2.0 * hq * cells * (hd + hdv);
    mr.flops[1] = 2.0 * hq * cells * (3 * hd + 2 * hdv);
    auto forward = [&] { ffa_forward(q.view, k.view, v.view, work, opts, out.view, lse.view); };
    auto backward = [&] {
      clear_grads();
      ffa_backward(q.view, k.view, v.view, out.view, lse.view, dout.view, work, opts, dq.view,
                   dk.view, dv.view);
    };
    // The check: out, lse and (CUDA) the gradients poisoned first, so that a row the kernels
    // skip cannot pass (the CPU's accumulators are zeroed, and a skipped row's 0 fails against
    // its reference). The gradients only when the backward is timed.
    fill(out.view, NAN);
    fill(lse.view, NAN);
    forward();
    if (r.bwd) {
      if (r.cuda) fill(dq.view, NAN), fill(dk.view, NAN), fill(dv.view, NAN);
      backward();
    }
    if (r.check_rows > 0) {
      const std::vector<double> none,
          o = dev.download(out), l = dev.download(lse), gq = r.bwd ? dev.download(dq) : none,
          gk = r.bwd ? dev.download(dk) : none, gv = r.bwd ? dev.download(dv) : none;
      mr.err = check_results({qv, kv, vv, dov, o, l, gq, gk, gv, S, hq, hkv, hd, hdv}, m.slices,
                             rows, keys);
      mr.checked = true;
      mr.ok = within(mr.err, tol);
      ok = ok && mr.ok;
    }
    if (r.fwd) mr.time[0] = measure(dev, forward, r.budget_s);
    if (r.bwd) mr.time[1] = measure(dev, backward, r.budget_s);
    res.push_back(mr);
    const MaskResult& full = res.front();
    std::printf("%-22s %14lld %5.1f%%", m.name.c_str(), (long long)mr.cells,
                100.0 * cells / (static_cast<double>(S) * static_cast<double>(S)));
    for (int p = 0; p < 2; ++p) {
      if (mr.time[p].calls == 0) {
        std::printf("  %10s %9s %7s", "-", "-", "-");
      } else {
        std::printf("  %10.3f %9.2f %6.1f%%", mr.time[p].median_s * 1e3, mr.rate(p) * unit_scale,
                    100.0 * mr.rate(p) / full.rate(p));
      }
    }
    std::printf("  %s\n", mr.checked ? check_text(mr, tol).c_str() : "-");
    std::fflush(stdout);
  }
  char check[400] = "check: none (--check-rows 0).\n";
  if (r.check_rows > 0) {
    std::snprintf(check, sizeof check,
                  "check: out, lse, dq on %zu query rows and dk, dv on %zu key rows (every head)\n"
                  "  against textbook attention in float64; errors |diff| over a row's max |ref|"
                  " (lse: |diff|);\n  tolerances out %.0e, lse %.0e, gradients %.0e; the largest "
                  "share of its tolerance shown.\n",
                  rows.size(), keys.size(), tol.out, tol.lse, tol.dq);
  }
  std::printf(
      "\ntimes: medians over batches of back-to-back calls; %s.\n"
      "rates: the mask's cells, forward 2 Hq cells (D + Dv) FLOPs, backward 2 Hq cells\n"
      "  (3 D + 2 Dv); 'of full': against the full mask's rate in this run.\n"
      "%s"
      "peers (cuDNN, FlashAttention 2, FlexAttention) are timed through torch by\n"
      "  bench/bench_ffa.py.\n",
      r.cuda ? "the gradients are stored in q's dtype"
             : "the backward's include zeroing the accumulators (dq, dk and dv)",
      check);
  if (!r.json.empty()) write_json(r, res, ok);
  if (!ok) std::printf("FAIL: a check exceeded its tolerance\n");
  return ok ? 0 : 1;
}

}  // namespace magi::cli
