// The Hopper backward's tile plans replayed through a model of the L2 (bench/NOTES.md v59): how
// many bytes each plan would move to and from DRAM, for a mask (packed documents or any slices),
// under several orders of the tiles (v62: it ranks tiles of n query heads as the GPU ran them).
// Host only; not part of the build:
//
//   g++ -std=c++20 -O2 -Iinclude -Isrc -Itests tools/bwd_l2_replay.cc
//     src/kernels/cuda/ffa/work_list.cc src/mask/*.cc -o /tmp/bwd_l2_replay
//   /tmp/bwd_l2_replay <causal 0|1> <heads> <l2 MB> <document lengths...>
//   /tmp/bwd_l2_replay <heads> <l2 MB> <q0:q1:k0:k1:type>...   (any mask; a case of
//     bench/cases.json, e.g. swa_causal at 8192, as arguments: $(python3 -c "import json; print(
//     ' '.join(':'.join(map(str, s)) for c in json.load(open('bench/cases.json'))['cases'] if
//     (c['name'], c['seqlen']) == ('swa_causal', 8192) for s in c['slices']))"))
//
// The model is sm90/bwd_traffic.h's (a tile's fixed steps, a step per query tile of each walk,
// one LRU of `l2 MB`). NOTE: a lower bound, not a predictor: on an H100 (v59) it gave 20.6 GB at
// 25 MB for 32k varlen_causal 64:8 (measured 25 GB) but 14.8 GB for the full mask (measured
// 30), and it ranks the deterministic order worse while that mode ran faster. What it cannot
// see: the L2's two halves, its hashing and write policy, prefetch, the CTAs' different speeds.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <numeric>
#include <vector>

#include "kernels/cuda/ffa/sm90/bwd_traffic.h"
#include "kernels/cuda/ffa/sm90/tile_plan.h"
#include "kernels/cuda/ffa/work_list.h"
#include "kernels/cuda/sm90/bwd_lists.h"

namespace {

using namespace magi;
using namespace magi::cuda;

/// `wl`'s items in the order `order` (indices into wl.items), planned and replayed.
sm90::BwdTraffic replay(const WorkList& wl, const std::vector<size_t>& order, int32_t heads,
                        int32_t kv_heads, int32_t grid, int64_t chunk_tiles, int64_t l2_bytes,
                        int32_t head_group = 1, int32_t walks = 1) {
  std::vector<FfaWorkItem> items;
  for (const size_t i : order) items.push_back(wl.items[i]);
  WorkList sorted = wl;
  sorted.items = items;
  // Tiles of `walks` query heads (BwdParams::pack_heads) are numbered over heads / walks.
  const std::vector<int32_t> cost = sm90::walked_costs(sm90::testing::walk_costs(sorted), walks);
  const sm90::TilePlan plan =
      sm90::plan_tiles(cost, heads / walks, grid, chunk_tiles, sm90::TileOrder{head_group});
  return sm90::replay_bwd_traffic(plan, items, wl.segs,
                                  {heads, heads / kv_heads, walks, 128, l2_bytes});
}

/// A slice written q0:q1:k0:k1:type; exits naming the argument when it is not one.
AttnSlice parse_slice(const char* arg) {
  long long v[4];
  char type[16];
  if (std::sscanf(arg, "%lld:%lld:%lld:%lld:%15s", &v[0], &v[1], &v[2], &v[3], type) == 5) {
    try {
      return {{v[0], v[1]}, {v[2], v[3]}, mask_type_from_string(type)};
    } catch (const std::exception&) {
    }
  }
  std::fprintf(stderr,
               "not a slice q0:q1:k0:k1:type (type full, causal, inv_causal or "
               "bi_causal): '%s'\n",
               arg);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  // Slices (an argument with ':') or packed documents.
  const bool slices_form = argc >= 4 && std::strchr(argv[3], ':') != nullptr;
  if (argc < (slices_form ? 4 : 5)) {
    std::fprintf(stderr,
                 "usage: %s <causal 0|1> <heads> <l2 MB> <document lengths...>\n"
                 "       %s <heads> <l2 MB> <q0:q1:k0:k1:type>...\n",
                 argv[0], argv[0]);
    return 2;
  }
  const int a = slices_form ? 1 : 2;  // the heads' argument
  const int32_t heads = std::atoi(argv[a]), kv_heads = std::max(1, heads / 8), grid = 132;
  const int64_t l2 = std::atoll(argv[a + 1]) << 20;
  std::vector<AttnSlice> slices;
  int64_t total = 0;
  if (slices_form) {
    for (int i = a + 2; i < argc; ++i) slices.push_back(parse_slice(argv[i]));
    for (const AttnSlice& s : slices) total = std::max({total, s.q.end, s.k.end});
  } else {
    std::vector<int64_t> ends;
    for (int i = a + 2; i < argc; ++i)
      ends.push_back((ends.empty() ? 0 : ends.back()) + std::atoll(argv[i]));
    const bool causal = std::atoi(argv[1]) != 0;
    slices = sm90::testing::documents(ends, causal ? AttnMaskType::kCausal : AttnMaskType::kFull);
    total = ends.back();
  }
  const WorkList wl = build_bwd_work(slices, total, 128, 64);
  const size_t n = wl.items.size();
  std::vector<size_t> list(n);
  std::iota(list.begin(), list.end(), size_t{0});
  // The deterministic mode's turn order (work_list.h: add_row_turns), by block_start.
  WorkList det = build_bwd_work(slices, total, 128, 64);
  add_row_turns(det, 64);
  std::vector<size_t> turns;
  for (const FfaWorkItem& it : det.items) {
    for (size_t i = 0; i < n; ++i) {
      if (wl.items[i].block_start == it.block_start) turns.push_back(i);
    }
  }
  std::vector<size_t> keys = list;
  std::sort(keys.begin(), keys.end(),
            [&](size_t a, size_t b) { return wl.items[a].block_start < wl.items[b].block_start; });
  std::vector<size_t> keys_down = keys;
  std::reverse(keys_down.begin(), keys_down.end());
  struct Variant {
    const char* name;
    const std::vector<size_t>* order;
    int64_t chunk;
  };
  const Variant variants[] = {
      {"list (longest first), chunks of 2 grids (default)", &list, 2 * grid},
      {"list (longest first), chunks of 1 tile", &list, 1},
      {"turn order, chunks of 1 tile (deterministic)", &turns, 1},
      {"turn order, chunks of 2 grids", &turns, 2 * grid},
      {"keys ascending, chunks of 1 tile", &keys, 1},
      {"keys ascending, chunks of 2 grids", &keys, 2 * grid},
      {"keys descending, chunks of 1 tile", &keys_down, 1},
      {"keys ascending, chunks of 1 grid", &keys, grid},
  };
  std::printf("%zu items, %d heads (%d kv), L2 %lld MB\n", n, heads, kv_heads,
              static_cast<long long>(l2 >> 20));
  for (const Variant& v : variants) {
    const sm90::BwdTraffic r = replay(wl, *v.order, heads, kv_heads, grid, v.chunk, l2);
    std::printf("%-52s busiest %8lld steps  DRAM read %6.2f GB  written %6.2f GB\n", v.name,
                static_cast<long long>(r.busiest_steps), r.read / 1e9, r.written / 1e9);
  }
  for (const int32_t g : {2, 4, 8}) {
    const sm90::BwdTraffic r = replay(wl, list, heads, kv_heads, grid, 2 * grid, l2, g);
    std::printf(
        "list, chunks of 2 grids, head groups of %d%*s busiest %8lld steps  DRAM read %6.2f GB  "
        "written %6.2f GB\n",
        g, 14, "", static_cast<long long>(r.busiest_steps), r.read / 1e9, r.written / 1e9);
  }
  for (const int32_t w : {2, 4, 8}) {
    if ((heads / kv_heads) % w != 0) continue;
    const sm90::BwdTraffic r = replay(wl, list, heads, kv_heads, grid, 2 * grid, l2, 1, w);
    std::printf(
        "list, chunks of 2 grids, tiles of %d query heads%*s busiest %8lld steps  DRAM read "
        "%6.2f GB  written %6.2f GB\n",
        w, 6, "", static_cast<long long>(r.busiest_steps), r.read / 1e9, r.written / 1e9);
  }
  return 0;
}
