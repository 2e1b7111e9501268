// magi-attn plan: dispatch and plan a mask, print per-rank load and communication.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "args.h"
#include "commands.h"
#include "magi/dispatch.h"
#include "magi/plan.h"
#include "presets.h"

namespace magi::cli {

Mask mask_from_args(const Args& a) {
  if (a.has("slices")) return read_slice_file(a.str("slices", ""));
  return make_preset(a.str("mask", "varlen_causal"), a.integer("seqlen", 65536),
                     static_cast<uint64_t>(a.integer("seed", 0)));
}

DistAttnConfig config_from_args(const Args& a) {
  DistAttnConfig c;
  const std::string alg = a.str("dispatch", "min_heap");
  bool found = false;
  for (int t = 0; t <= static_cast<int>(DispatchAlgType::kExact); ++t) {
    if (to_string(static_cast<DispatchAlgType>(t)) == alg) {
      c.dispatch_config.alg.type = static_cast<DispatchAlgType>(t);
      found = true;
    }
  }
  MAGI_CHECK(found, "--dispatch = '", alg, "': unknown dispatch algorithm");
  c.dispatch_config.alg.top_p = 0.5;
  OverlapConfig& o = c.overlap_config;
  const std::string degree = a.str("degree", "2");
  if (degree == "dynamic") {
    o.mode = AttnOverlapMode::kDynamic;
    o.degree.reset();
  } else {
    o.degree = a.integer("degree", 2);
  }
  o.min_chunk_size = a.integer("min-chunk", 512);
  o.max_num_chunks = a.integer("max-chunks", 64);
  if (a.str("overlap-alg", "uniform") == "greedy") o.alg.type = OverlapAlgType::kGreedy;
  c.validate();
  return c;
}

int run_plan(const Args& a) {
  const Mask mask = mask_from_args(a);
  const int64_t cp = a.integer("cp", 8), chunk = a.integer("chunk", 512);
  const int64_t heads_kv = a.integer("heads-kv", 8), head_dim = a.integer("head-dim", 128);
  const bool json = a.has("json");
  const DistAttnConfig cfg = config_from_args(a);
  a.check_all_used();

  const int64_t pad = compute_pad_size(mask.seqlen, cp, head_dim, chunk);
  const auto t0 = std::chrono::steady_clock::now();
  const DispatchMeta d =
      solve_dispatch(mask.slices, mask.seqlen + pad, chunk, cp, cfg.dispatch_config.alg);
  const Plan plan = make_plan(mask.slices, d, cfg.overlap_config);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (json) {
    std::cout << plan.to_json(a.has("slices-out")) << "\n";
    return 0;
  }
  // K and V rows in bf16.
  const double row_bytes = 2.0 * heads_kv * head_dim * 2;
  std::printf("mask %s: seqlen %lld (+%lld pad), %zu slices, cp %lld, chunk %lld, degree %lld\n",
              mask.name.c_str(), static_cast<long long>(mask.seqlen), static_cast<long long>(pad),
              mask.slices.size(), static_cast<long long>(cp), static_cast<long long>(chunk),
              static_cast<long long>(plan.degree));
  std::printf("%5s %14s %14s %10s  %s\n", "rank", "cells", "host cells", "recv rows",
              "recv rows per stage");
  int64_t max_cells = 0, sum_cells = 0, total_recv = 0;
  for (const RankPlan& rp : plan.ranks) {
    const int64_t cells = rp.host_area + rp.remote_area;
    max_cells = std::max(max_cells, cells);
    sum_cells += cells;
    total_recv += rp.num_recv();
    std::printf("%5lld %14lld %14lld %10lld  ", static_cast<long long>(rp.rank),
                static_cast<long long>(cells), static_cast<long long>(rp.host_area),
                static_cast<long long>(rp.num_recv()));
    for (const StagePlan& st : rp.stages)
      std::printf("%lld ", static_cast<long long>(st.num_recv()));
    std::printf("\n");
  }
  const double mean = static_cast<double>(sum_cells) / static_cast<double>(cp);
  const int64_t ring_rows = cp * (cp - 1) * d.shard_seqlen();
  std::printf("imbalance (max/mean cells): %.4f\n", mean > 0 ? max_cells / mean : 1.0);
  std::printf(
      "comm: %.2f MB of K/V moved in total (%lld rows); ring attention: %.2f MB (%.1f%%)\n",
      total_recv * row_bytes / 1e6, static_cast<long long>(total_recv), ring_rows * row_bytes / 1e6,
      ring_rows ? 100.0 * static_cast<double>(total_recv) / static_cast<double>(ring_rows) : 0.0);
  std::printf("planning time (dispatch + all ranks): %.2f ms\n", ms);
  return 0;
}

}  // namespace magi::cli
