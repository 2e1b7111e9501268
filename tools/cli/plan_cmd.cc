// magi-attn plan: dispatch and plan a mask, print per-rank load and communication.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <optional>

#include "commands.h"
#include "magi/dispatch.h"
#include "magi/hier_plan.h"
#include "magi/plan.h"
#include "options.h"
#include "resources.h"
#include "usage_error.h"

namespace magi::cli {

namespace {

constexpr int64_t kMaxPlanRanks = 1 << 16;

}  // namespace

std::vector<Option> plan_options() {
  return mask_options("65536") +
         std::vector<Option>{
             {"cp", "N", "8", "CP ranks, 1 .. min(seqlen, 65536)"},
             {"chunk", "N", "512", "dispatch chunk size"},
             {"heads-kv", "N", "8", "key/value heads (for the bytes moved)"},
             {"head-dim", "N", "128", "head dimension (for the bytes moved)"},
             {"head-dim-v", "N", "= --head-dim", "head dimension of v (for the bytes moved)"},
             {"json", "", "", "print the plan as JSON instead of the table"},
             {"slices-out", "", "", "with --json: include every stage's slices"},
             {"mesh", "AxB", "",
              "also plan hierarchical communication on A nodes x B ranks "
              "(A*B = cp) and print the bytes per level"}} +
         config_options();
}

int run_plan(const Args& a) {
  const Mask mask = mask_from_args(a);
  const int64_t cp = a.integer("cp", 1, kMaxPlanRanks), chunk = a.integer("chunk", 1, kMaxSeqlen);
  if (cp > mask.seqlen) {
    throw UsageError("--cp = " + std::to_string(cp) + ": more ranks than tokens (seqlen " +
                     std::to_string(mask.seqlen) + ")");
  }
  const int64_t heads_kv = a.integer("heads-kv", 1, 1024);
  const int64_t head_dim = a.integer("head-dim", 1, 1024);
  const int64_t head_dim_v = a.has("head-dim-v") ? a.integer("head-dim-v", 1, 1024) : head_dim;
  const bool json = a.has("json");
  if (a.has("slices-out") && !json) throw UsageError("--slices-out: only with --json");
  const DistAttnConfig cfg = config_from_args(a);
  const std::optional<CommMesh> mesh =
      a.has("mesh") ? std::optional(parse_mesh("mesh", a.str("mesh"))) : std::nullopt;
  if (mesh && mesh->size() != cp) {
    throw UsageError("--mesh = " + a.str("mesh") + ": " + std::to_string(mesh->size()) +
                     " ranks, but --cp = " + std::to_string(cp));
  }
  const double chunks = std::ceil(static_cast<double>(mask.seqlen) / static_cast<double>(chunk));
  if (chunks + cp > static_cast<double>(kMaxDispatchChunks)) {
    throw UsageError("--seqlen " + std::to_string(mask.seqlen) + " with --chunk " +
                     std::to_string(chunk) + ": " + std::to_string(int64_t(chunks)) +
                     " chunks, more than the planner's limit of 2^24; raise --chunk");
  }
  check_memory(plan_bytes(mask.slices, chunk, cp, 1),
               "planning seqlen " + std::to_string(mask.seqlen) + " in chunks of " +
                   std::to_string(chunk) + " over cp " + std::to_string(cp));

  const int64_t pad = compute_pad_size(mask.seqlen, cp, head_dim, chunk);
  const auto t0 = std::chrono::steady_clock::now();
  const DispatchMeta d =
      solve_dispatch(mask.slices, mask.seqlen + pad, chunk, cp, cfg.dispatch_config.alg);
  const Plan plan = make_plan(mask.slices, d, cfg.overlap_config);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const auto t1 = std::chrono::steady_clock::now();
  const std::optional<HierPlan> hier =
      mesh ? std::optional(make_hier_plan(plan, *mesh)) : std::nullopt;
  const double hier_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count();
  if (json) {
    const bool with_slices = a.has("slices-out");
    if (hier) {
      std::cout << "{\"plan\":" << plan.to_json(with_slices)
                << ",\"hierarchical\":" << hier->to_json(with_slices) << "}\n";
    } else {
      std::cout << plan.to_json(with_slices) << "\n";
    }
    return 0;
  }
  // K and V rows in bf16.
  const double row_bytes = 2.0 * heads_kv * (head_dim + head_dim_v);
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
  const int64_t ring_rows = (cp - 1) * d.total_seqlen;  // every shard reaches cp - 1 ranks
  std::printf("imbalance (max/mean cells): %.4f\n", mean > 0 ? max_cells / mean : 1.0);
  std::printf(
      "comm: %.2f MB of K/V moved in total (%lld rows); ring attention: %.2f MB (%.1f%%)\n",
      total_recv * row_bytes / 1e6, static_cast<long long>(total_recv), ring_rows * row_bytes / 1e6,
      ring_rows ? 100.0 * static_cast<double>(total_recv) / static_cast<double>(ring_rows) : 0.0);
  if (hier) {
    const CommVolume f = flat_volume(plan, *mesh), h = hier->volume();
    auto mb = [&](int64_t rows) { return static_cast<double>(rows) * row_bytes / 1e6; };
    std::printf("mesh %lldx%lld (inter-node x intra-node), K/V of one group-cast:\n",
                static_cast<long long>(mesh->inter), static_cast<long long>(mesh->intra));
    std::printf("  %-13s %14s %14s\n", "", "inter-node MB", "intra-node MB");
    std::printf("  %-13s %14.2f %14.2f\n", "flat", mb(f.inter_rows), mb(f.intra_rows));
    std::printf("  %-13s %14.2f %14.2f\n", "hierarchical", mb(h.inter_rows), mb(h.intra_rows));
    if (h.inter_rows > 0) {
      std::printf("  inter-node bytes: %.2fx fewer than flat (intra-node size %lld)\n",
                  static_cast<double>(f.inter_rows) / static_cast<double>(h.inter_rows),
                  static_cast<long long>(mesh->intra));
    }
    std::printf("hierarchical planning time: %.2f ms\n", hier_ms);
  }
  std::printf("planning time (dispatch + all ranks): %.2f ms\n", ms);
  return 0;
}

}  // namespace magi::cli
