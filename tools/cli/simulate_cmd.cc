// magi-attn simulate: plan a mask with the real dispatcher and planner, then predict per-rank,
// per-stage compute and communication times and per-GPU TFLOP/s for magi (flat, and
// hierarchical on several nodes), ring attention, Ulysses and all-gather under one cost model
// (magi/sim.h). Model outputs, not measurements.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <optional>
#include <sstream>

#include "args.h"
#include "commands.h"
#include "magi/check.h"
#include "magi/dispatch.h"
#include "magi/hier_plan.h"
#include "magi/plan.h"
#include "magi/sim.h"
#include "options.h"
#include "presets.h"
#include "usage_error.h"

namespace magi::cli {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double number(const std::string& option, const std::string& text) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (...) {
    used = 0;
  }
  if (used != text.size() || text.empty() || !std::isfinite(v)) {
    throw UsageError("--" + option + " = '" + text + "': not a number");
  }
  return v;
}

// "R" (every mask type), "R,R,R,R" (full, causal, inv_causal, bi_causal) or
// "full=R,causal=R,..." (the others keep `rates`).
std::array<double, 4> parse_rates(const std::string& option, const std::string& text,
                                  std::array<double, 4> rates) {
  if (text.find('=') == std::string::npos) {
    const std::vector<std::string> items = split_commas(text);
    if (items.size() == 1) {
      rates.fill(number(option, text));
    } else if (items.size() == 4) {
      for (int t = 0; t < 4; ++t) rates[t] = number(option, items[t]);
    } else {
      throw UsageError("--" + option + " = '" + text +
                       "': expected R, four rates R,R,R,R (full, causal, inv_causal, "
                       "bi_causal) or TYPE=R,...");
    }
    return rates;
  }
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      throw UsageError("--" + option + " = '" + text + "': item '" + item + "' is not TYPE=RATE");
    }
    const std::string type = item.substr(0, eq);
    int t = 0;
    while (t < 4 && to_string(static_cast<AttnMaskType>(t)) != type) ++t;
    if (t == 4) {
      throw UsageError("--" + option + " = '" + text + "': unknown mask type '" + type +
                       "' (expected full, causal, inv_causal, bi_causal)");
    }
    rates[t] = number(option, item.substr(eq + 1));
  }
  return rates;
}

void print_ranks(const sim::MethodResult& m, int64_t show) {
  if (m.ranks.empty() || show <= 0) return;
  // The first `show` ranks and the slowest one (forward).
  std::vector<int64_t> ids;
  for (int64_t r = 0; r < std::min<int64_t>(show, static_cast<int64_t>(m.ranks.size())); ++r)
    ids.push_back(r);
  const auto slow = std::max_element(
      m.ranks.begin(), m.ranks.end(),
      [](const sim::RankTimes& a, const sim::RankTimes& b) { return a.fwd_end_s < b.fwd_end_s; });
  if (std::find(ids.begin(), ids.end(), slow->rank) == ids.end()) ids.push_back(slow->rank);
  std::printf(
      "%s per rank (ms): host and per-stage kernels | per-stage K/V link time | wait | end\n",
      m.method.c_str());
  for (int64_t id : ids) {
    const sim::RankTimes& r = m.ranks[id];
    std::printf("  rank %5lld fwd %8.3f", static_cast<long long>(r.rank), r.host_fwd_s * 1e3);
    for (double s : r.fwd_s) std::printf(" %8.3f", s * 1e3);
    std::printf(" |");
    for (double s : r.fetch_s) std::printf(" %8.3f", s * 1e3);
    std::printf(" | %8.3f | %8.3f\n", r.fwd_wait_s * 1e3, r.fwd_end_s * 1e3);
    std::printf("  %10s bwd %8.3f", "", r.host_bwd_s * 1e3);
    for (double s : r.bwd_s) std::printf(" %8.3f", s * 1e3);
    std::printf(" |");
    for (double s : r.reduce_s) std::printf(" %8.3f", s * 1e3);
    std::printf(" | %8.3f | %8.3f\n", r.bwd_wait_s * 1e3, r.bwd_end_s * 1e3);
  }
}

}  // namespace

std::vector<Option> simulate_options() {
  return mask_options("tokens-per-gpu x cp") +
         std::vector<Option>{
             {"tokens-per-gpu", "N", "8192", "tokens per GPU when --seqlen is not given"},
             {"gpus-per-node", "N", "8", "GPUs per node (fewer when --cp is smaller)"},
             {"nodes", "N", "1", "nodes (or give --cp)"},
             {"cp", "N", "", "CP ranks = GPUs, a multiple of --gpus-per-node (or give --nodes)"},
             {"fwd-tflops", "RATES", "607,618,618,618",
              "forward kernel TFLOP/s: R, or R,R,R,R for full, causal, inv_causal, bi_causal, "
              "or TYPE=R,...; default: magi's kernels on one H200, 8k 64:8 hd 128, "
              "bench/runs/v41_h200_harness.json (the harness at ae1dcf7, 2026-12-05)"},
             {"bwd-tflops", "RATES", "543,505,505,505", "backward kernel TFLOP/s, as --fwd-tflops"},
             {"nvlink-gbps", "X", "350", "intra-node GB/s per GPU per direction"},
             {"inter-gbps", "X", "45", "inter-node GB/s per GPU per direction"},
             {"latency-us", "X", "20", "latency of one exchange"},
             {"kernel-overhead-us", "X", "5", "cost of one kernel call"},
             {"mem-gbps", "X", "2000", "local range gathers / scatter-adds"},
             {"sync-comm", "", "", "LocalGroup exchanges (copies inside wait, no overlap)"},
             {"heads", "N", "64", "query heads"},
             {"heads-kv", "N", "8", "key/value heads"},
             {"head-dim", "N", "128", "head dimension"},
             {"dtype", "T", "bf16", "bf16, fp16 or fp32"},
             {"chunk", "N", "2048", "magi's dispatch chunk size"},
             {"methods", "LIST", "magi,magi_hier,ring,ulysses,all_gather",
              "methods to simulate (magi_hier: on two nodes or more)"},
             {"ring-layout", "L", "auto",
              "ring / all-gather layout: zigzag, contiguous, auto (zigzag for masks with a "
              "diagonal)"},
             {"ranks", "N", "4", "per-rank tables for the first N ranks and the slowest"},
             {"json", "", "", "print JSON instead of the tables"}} +
         config_options();
}

int run_simulate(const Args& a) {
  const auto t_start = Clock::now();
  // Cluster.
  sim::ClusterDesc c;
  c.gpus_per_node = a.integer("gpus-per-node", 1, 1 << 16);
  if (a.has("nodes") && a.has("cp")) throw UsageError("--nodes, --cp: give one of them");
  if (a.has("cp")) {
    const int64_t cp = a.integer("cp", 1, 1 << 20);
    if (cp < c.gpus_per_node) c.gpus_per_node = cp;
    if (cp % c.gpus_per_node != 0) {
      throw UsageError("--cp = " + std::to_string(cp) +
                       ": not a multiple of --gpus-per-node = " + std::to_string(c.gpus_per_node));
    }
    c.nodes = cp / c.gpus_per_node;
  } else {
    c.nodes = a.integer("nodes", 1, 1 << 20);
  }
  if (a.has("fwd-tflops"))
    c.fwd_tflops = parse_rates("fwd-tflops", a.str("fwd-tflops"), c.fwd_tflops);
  if (a.has("bwd-tflops"))
    c.bwd_tflops = parse_rates("bwd-tflops", a.str("bwd-tflops"), c.bwd_tflops);
  c.intra_gbps = number("nvlink-gbps", a.str("nvlink-gbps"));
  c.inter_gbps = number("inter-gbps", a.str("inter-gbps"));
  c.latency_us = number("latency-us", a.str("latency-us"));
  c.kernel_overhead_us = number("kernel-overhead-us", a.str("kernel-overhead-us"));
  c.mem_gbps = number("mem-gbps", a.str("mem-gbps"));
  c.async_comm = !a.has("sync-comm");
  try {
    c.validate();
  } catch (const Error& e) {
    throw UsageError(std::string("the cluster: ") + e.what());
  }
  const int64_t cp = c.size();
  // Shape.
  sim::AttnShape shape;
  shape.heads_q = a.integer("heads", 1, 4096);
  shape.heads_kv = a.integer("heads-kv", 1, shape.heads_q);
  if (shape.heads_q % shape.heads_kv != 0) {
    throw UsageError("--heads-kv = " + std::to_string(shape.heads_kv) +
                     ": must divide --heads = " + std::to_string(shape.heads_q));
  }
  shape.head_dim = a.integer("head-dim", 1, 4096);
  const std::vector<std::string> dtypes = {"bf16", "fp16", "fp32"};
  const std::string dtype = a.choice("dtype", dtypes);
  shape.elem_bytes = dtype == "fp32" ? 4 : 2;
  // Mask and config.
  const int64_t per_gpu = a.integer("tokens-per-gpu", 1, kMaxSeqlen);
  const Mask mask = [&] {
    if (a.has("slices") || a.has("seqlen")) return mask_from_args(a);
    return make_preset(a.choice("mask", preset_names()), per_gpu * cp,
                       static_cast<uint64_t>(a.integer("seed", 0, INT64_MAX)));
  }();
  const int64_t chunk = a.integer("chunk", 1, kMaxSeqlen);
  const DistAttnConfig cfg = config_from_args(a);
  const std::vector<std::string> methods = split_commas(a.str("methods"));
  const std::vector<std::string> known = {"magi", "magi_hier", "ring", "ulysses", "all_gather"};
  for (const std::string& m : methods) {
    if (std::find(known.begin(), known.end(), m) == known.end()) {
      throw UsageError("--methods: unknown method '" + m +
                       "' (expected magi, magi_hier, ring, ulysses, all_gather)");
    }
  }
  auto wants = [&](const char* m) {
    return std::find(methods.begin(), methods.end(), m) != methods.end();
  };
  const std::vector<std::string> layouts = {"auto", "zigzag", "contiguous"};
  const std::string layout_name = a.choice("ring-layout", layouts);
  const bool json = a.has("json");
  const int64_t show = a.integer("ranks", 0, 1 << 20);
  if (cp > mask.seqlen) {
    throw UsageError("cp " + std::to_string(cp) + ": more ranks than tokens (seqlen " +
                     std::to_string(mask.seqlen) + ")");
  }

  // Plan.
  const int64_t pad = compute_pad_size(mask.seqlen, cp, shape.head_dim, chunk);
  const int64_t total = mask.seqlen + pad;
  auto t0 = Clock::now();
  const DispatchMeta d = solve_dispatch(mask.slices, total, chunk, cp, cfg.dispatch_config.alg);
  const Plan plan = make_plan(mask.slices, d, cfg.overlap_config);
  const double plan_ms = ms_since(t0);
  double hier_ms = 0;
  std::optional<HierPlan> hier;
  if (wants("magi_hier") && c.nodes > 1) {
    t0 = Clock::now();
    hier = make_hier_plan(plan, c.mesh());
    hier_ms = ms_since(t0);
  }
  // Simulate.
  t0 = Clock::now();
  const bool any_masked =
      std::any_of(mask.slices.begin(), mask.slices.end(),
                  [](const AttnSlice& s) { return s.type != AttnMaskType::kFull; });
  const sim::RingLayout layout = layout_name == "zigzag" || (layout_name == "auto" && any_masked)
                                     ? sim::RingLayout::kZigzag
                                     : sim::RingLayout::kContiguous;
  std::vector<sim::MethodResult> results;
  if (wants("magi")) results.push_back(sim::simulate_magi(plan, nullptr, c, shape));
  if (hier) results.push_back(sim::simulate_magi(plan, &*hier, c, shape));
  if (wants("ring")) results.push_back(sim::simulate_ring(mask.slices, total, layout, c, shape));
  if (wants("ulysses")) results.push_back(sim::simulate_ulysses(mask.slices, total, c, shape));
  if (wants("all_gather"))
    results.push_back(sim::simulate_all_gather(mask.slices, total, layout, c, shape));
  const double sim_ms = ms_since(t0);
  const double wall_ms = ms_since(t_start);

  if (json) {
    std::cout << sim::to_json(c, shape, results, show > 0) << "\n";
    return 0;
  }
  std::printf(
      "simulate (model outputs, not measurements): mask %s, seqlen %lld (+%lld pad), %zu "
      "slices\n",
      mask.name.c_str(), static_cast<long long>(mask.seqlen), static_cast<long long>(pad),
      mask.slices.size());
  std::printf(
      "cluster: %lld nodes x %lld GPUs = cp %lld; fwd TFLOP/s full/causal/inv/bi "
      "%.0f/%.0f/%.0f/%.0f, bwd %.0f/%.0f/%.0f/%.0f; NVLink %.0f GB/s, inter-node %.0f "
      "GB/s, latency %.1f us, kernel call %.1f us, %s\n",
      static_cast<long long>(c.nodes), static_cast<long long>(c.gpus_per_node),
      static_cast<long long>(cp), c.fwd_tflops[0], c.fwd_tflops[1], c.fwd_tflops[2],
      c.fwd_tflops[3], c.bwd_tflops[0], c.bwd_tflops[1], c.bwd_tflops[2], c.bwd_tflops[3],
      c.intra_gbps, c.inter_gbps, c.latency_us, c.kernel_overhead_us,
      c.async_comm ? "async exchanges" : "LocalGroup exchanges");
  std::printf("shape: heads %lld:%lld, head_dim %lld, %s; chunk %lld, degree %lld, dispatch %s\n",
              static_cast<long long>(shape.heads_q), static_cast<long long>(shape.heads_kv),
              static_cast<long long>(shape.head_dim), dtype.c_str(), static_cast<long long>(chunk),
              static_cast<long long>(plan.degree), to_string(cfg.dispatch_config.alg.type).c_str());
  std::printf("%-11s %10s %10s %9s %9s %11s %11s %10s %10s  %s\n", "method", "fwd ms", "bwd ms",
              "fwd TF/s", "bwd TF/s", "fwd kern ms", "bwd kern ms", "inter GB", "intra GB", "note");
  const sim::MethodResult* magi = nullptr;
  for (const sim::MethodResult& m : results) {
    if (m.method == "magi" || (m.method == "magi_hier" && !magi)) magi = &m;
    if (!m.feasible) {
      std::printf("%-11s %10s  (%s)\n", m.method.c_str(), "n/a", m.note.c_str());
      continue;
    }
    std::printf("%-11s %10.3f %10.3f %9.1f %9.1f %11.3f %11.3f %10.3f %10.3f  %s\n",
                m.method.c_str(), m.fwd_s * 1e3, m.bwd_s * 1e3, m.fwd_tflops, m.bwd_tflops,
                m.fwd_compute_s * 1e3, m.bwd_compute_s * 1e3, m.inter_bytes / 1e9,
                m.intra_bytes / 1e9, m.note.c_str());
  }
  if (magi) {
    for (const sim::MethodResult& m : results) {
      if (&m == magi || !m.feasible || m.fwd_tflops <= 0) continue;
      std::printf("%s / %s: fwd %.2fx, bwd %.2fx\n", magi->method.c_str(), m.method.c_str(),
                  magi->fwd_tflops / m.fwd_tflops, magi->bwd_tflops / m.bwd_tflops);
    }
  }
  for (const sim::MethodResult& m : results) print_ranks(m, show);
  std::printf(
      "time: plan %.0f ms (dispatch + all %lld ranks), hierarchical plan %.0f ms, "
      "simulation %.0f ms, total %.0f ms\n",
      plan_ms, static_cast<long long>(cp), hier_ms, sim_ms, wall_ms);
  return 0;
}

}  // namespace magi::cli
