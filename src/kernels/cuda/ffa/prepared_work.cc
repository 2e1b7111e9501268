#include "kernels/cuda/ffa/prepared_work.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <span>
#include <system_error>
#include <utility>
#include <vector>

#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/ffa/launch.h"
#include "kernels/cuda/ffa/sm90/bwd_cut.h"
#include "kernels/cuda/ffa/sm90/dq_cast.h"
#include "kernels/cuda/ffa/sm90/fwd_plan.h"
#include "kernels/cuda/ffa/sm90/fwd_rows.h"
#include "kernels/cuda/ffa/sm90/segment_tiles.h"
#include "kernels/cuda/ffa/sm90/tile_plan.h"
#include "kernels/cuda/ffa/tile_table.h"
#include "kernels/cuda/ffa/work_list.h"
#include "kernels/ffa_work_impl.h"

namespace magi::cuda {
namespace {

/// A deterministic backward list: its row turns take 4 bytes per query tile (0.5 GB for a
/// 1M x 1M full mask in 128-key blocks), so it is built on the first deterministic call that
/// needs it only.
struct DeterministicList {
  DeviceWorkList list;
  std::unique_ptr<UploadedBuffer> buffer;
};

struct CudaFfaWork : PreparedState {
  PreparedFfa lists;
  std::unique_ptr<UploadedBuffer> buffer;  // the lists above: items, segments
  struct Plan {
    const DeviceWorkList* list;
    int32_t num_heads, heads_per_tile, grid;
    int64_t chunk_tiles;
    sm90::TileOrder order;
    sm90::TileCuts cuts;
    // [grid + 1] starts, the tiles; with cut tiles then the cuts, the extended items and
    // segments (each 16-byte aligned)
    std::unique_ptr<UploadedBuffer> buffer;
    DeviceTilePlan plan;
  };
  mutable std::mutex plans_mu;
  mutable std::vector<Plan> plans;  // few: one per head count a model's layers use
  struct FwdPlanned {
    FwdScheduleKey key;
    FwdSchedule schedule;
    std::unique_ptr<UploadedBuffer> buffer;  // the plan: units, then [grid + 1] starts
  };
  mutable std::vector<FwdPlanned> fwd_plans;  // under plans_mu
  // Under plans_mu: bwd_pack_walks' answers per list and problem (each plans several times).
  struct PackKey {
    const DeviceWorkList* list;
    sm90::PackProblem pb;
    int32_t head_dim;
    bool by_traffic;
    bool operator==(const PackKey&) const = default;
  };
  mutable std::vector<std::pair<PackKey, int32_t>> packs;
  // Under plans_mu: [0] global key blocks of kBwdBlockN keys, [1] of kBwdPassKeys keys (above
  // head dim 128); null until first used.
  mutable std::unique_ptr<DeterministicList> det[2];
  // Under plans_mu: bwd_pack_prefetch's answers in the making. NOTE: last, so destroyed first:
  // the last reference to a std::async state waits for its thread, which reads `lists`.
  mutable std::vector<std::pair<PackKey, std::shared_future<int32_t>>> pending_packs;
};

/// The key tiles of `block_n` keys each item of a forward `list` walks (KeyTiles).
std::vector<int32_t> key_tiles(const DeviceWorkList& list, int block_n) {
  std::vector<int32_t> tiles;
  tiles.reserve(list.seg_keys_begin.size());
  for (size_t i = 0; i + 1 < list.seg_keys_begin.size(); ++i) {
    int32_t n = 0;
    for (int32_t s = list.seg_keys_begin[i]; s < list.seg_keys_begin[i + 1]; ++s) {
      n += (list.seg_keys[static_cast<size_t>(s)] + block_n - 1) / block_n;
    }
    tiles.push_back(n);
  }
  return tiles;
}

/// The query tiles each item of a backward `list` walks (RowTiles; aligned to kBwdBlockM-row
/// blocks in the deterministic lists).
std::vector<int32_t> item_costs(const WorkList& list, bool aligned) {
  std::vector<int32_t> cost;
  cost.reserve(list.items.size());
  for (const FfaWorkItem& it : list.items) {
    int64_t tiles = 0;
    for (int32_t s = it.seg_begin; s < it.seg_end; ++s) {
      const FfaSegment& g = list.segs[static_cast<size_t>(s)];
      tiles += sm90::RowTiles<kBwdBlockM>::tiles_of(g.q0, g.q1, aligned);
    }
    cost.push_back(static_cast<int32_t>(tiles));
  }
  return cost;
}

size_t aligned(size_t n) { return (n + 15) / 16 * 16; }

enum class ListKind { kForward, kDefaultBackward, kDeterministic };

/// One list to upload: what it is, its block (rows or keys), where its device form goes, and
/// (backward) the mask's query rows.
struct ListUpload {
  const WorkList* list;
  int32_t block;
  ListKind kind;
  DeviceWorkList* out;
  int64_t total_q = 0;
};

/// Uploads the lists as one image (per list [items][segs][row turns][dQ blocks' additions],
/// each 16-byte aligned) and fills each `out` with their device pointers and what the host
/// keeps of that kind (`what` names them in UploadedBuffer's errors).
std::unique_ptr<UploadedBuffer> upload_lists(std::span<const ListUpload> lists, int device,
                                             void* stream, const char* what) {
  std::vector<std::array<size_t, 4>> offsets(lists.size());
  std::vector<std::vector<int32_t>> dq_adds(lists.size());
  size_t bytes = 0;
  for (size_t i = 0; i < lists.size(); ++i) {
    const WorkList& l = *lists[i].list;
    if (lists[i].kind != ListKind::kForward) {
      dq_adds[i] =
          sm90::dq_block_adds<kBwdBlockM>(l.items, l.segs, static_cast<int32_t>(lists[i].total_q),
                                          lists[i].kind == ListKind::kDeterministic);
    }
    offsets[i][0] = bytes;
    bytes += aligned(l.items.size() * sizeof(FfaWorkItem));
    offsets[i][1] = bytes;
    bytes += aligned(l.segs.size() * sizeof(FfaSegment));
    offsets[i][2] = bytes;
    bytes += aligned(l.row_turns.size() * sizeof(int32_t));
    offsets[i][3] = bytes;
    bytes += aligned(dq_adds[i].size() * sizeof(int32_t));
  }
  std::vector<unsigned char> host(std::max<size_t>(bytes, 16));  // never empty
  auto put = [&](size_t at, const void* src, size_t len) {
    if (len) std::memcpy(host.data() + at, src, len);
  };
  for (size_t i = 0; i < lists.size(); ++i) {
    const WorkList& l = *lists[i].list;
    put(offsets[i][0], l.items.data(), l.items.size() * sizeof(FfaWorkItem));
    put(offsets[i][1], l.segs.data(), l.segs.size() * sizeof(FfaSegment));
    put(offsets[i][2], l.row_turns.data(), l.row_turns.size() * sizeof(int32_t));
    put(offsets[i][3], dq_adds[i].data(), dq_adds[i].size() * sizeof(int32_t));
  }
  auto buffer = std::make_unique<UploadedBuffer>(host.data(), host.size(), device, stream, what);
  const auto* base = static_cast<const unsigned char*>(buffer->data());
  for (size_t i = 0; i < lists.size(); ++i) {
    const auto& [list, block, kind, out, total_q] = lists[i];
    const WorkList& l = *list;
    DeviceWorkList& d = *out;
    d.items = reinterpret_cast<const FfaWorkItem*>(base + offsets[i][0]);
    d.segs = reinterpret_cast<const FfaSegment*>(base + offsets[i][1]);
    d.row_turns =
        l.row_turns.empty() ? nullptr : reinterpret_cast<const int32_t*>(base + offsets[i][2]);
    d.num_items = static_cast<int32_t>(l.items.size());
    d.block = block;
    d.covers_keys = l.covers_keys;
    if (kind == ListKind::kForward) {
      for (const FfaWorkItem& it : l.items) {
        d.seg_keys_begin.push_back(static_cast<int32_t>(d.seg_keys.size()));
        for (int32_t g = it.seg_begin; g < it.seg_end; ++g) {
          const FfaSegment& seg = l.segs[static_cast<size_t>(g)];
          d.seg_keys.push_back(seg.k1 - seg.k0);
        }
      }
      d.seg_keys_begin.push_back(static_cast<int32_t>(d.seg_keys.size()));
      if (fwd_pairs_requested()) d.key_class = sm90::fwd_key_classes(l.items, l.segs);
    } else {
      d.item_cost = item_costs(l, /*aligned=*/kind == ListKind::kDeterministic);
      for (const int32_t c : d.item_cost) {
        d.walks += c;
        d.walking += c > 0;
      }
      d.dq_adds = reinterpret_cast<const int32_t*>(base + offsets[i][3]);
      const auto none = std::count(dq_adds[i].begin(), dq_adds[i].end(), 0);
      d.dq_blocks_added = static_cast<int32_t>(std::ssize(dq_adds[i]) - none);
      d.dq_rows_covered = none == 0;
    }
    if (kind == ListKind::kDefaultBackward) {
      d.host_items = l.items;
      d.host_segs = l.segs;
    }
  }
  return buffer;
}

std::unique_ptr<CudaFfaWork> build(const FfaWork& work, int device, void* stream) {
  const WorkList fwd = build_fwd_work(work.slices(), work.total_q(), kFwdBlockM),
                 fwd_wide = build_fwd_work(work.slices(), work.total_q(), kFwdWideBlockM),
                 bwd = build_bwd_work(work.slices(), work.total_k(), kBwdBlockN, kBwdBlockM);
  auto w = std::make_unique<CudaFfaWork>();
  const ListUpload lists[] = {
      {&fwd, kFwdBlockM, ListKind::kForward, &w->lists.fwd},
      {&fwd_wide, kFwdWideBlockM, ListKind::kForward, &w->lists.fwd_wide},
      {&bwd, kBwdBlockN, ListKind::kDefaultBackward, &w->lists.bwd, work.total_q()}};
  w->buffer = upload_lists(lists, device, stream, "FFA CUDA: the mask's work lists");
  return w;
}

const CudaFfaWork& prepared(const FfaWork& work, int device, void* stream) {
  return work.impl().prepared.get<CudaFfaWork>(Device{DeviceType::kCUDA, device},
                                               [&] { return build(work, device, stream); });
}

}  // namespace

const PreparedFfa& prepared_ffa(const FfaWork& work, int device, void* stream) {
  return prepared(work, device, stream).lists;
}

const DeviceWorkList& deterministic_bwd_list(const FfaWork& work, bool pass, int device,
                                             void* stream) {
  const CudaFfaWork& w = prepared(work, device, stream);
  std::lock_guard lock(w.plans_mu);
  std::unique_ptr<DeterministicList>& det = w.det[pass ? 1 : 0];
  if (!det) {
    const int32_t block = pass ? kBwdPassKeys : kBwdBlockN;
    WorkList list = build_bwd_work(work.slices(), work.total_k(), block, kBwdBlockM);
    add_row_turns(list, kBwdBlockM);
    auto d = std::make_unique<DeterministicList>();
    const ListUpload up[] = {{&list, block, ListKind::kDeterministic, &d->list, work.total_q()}};
    d->buffer = upload_lists(up, device, stream,
                             "FFA CUDA: the deterministic backward's work lists (made by its "
                             "first call)");
    det = std::move(d);
  }
  return det->list;
}

bool fwd_pairs_requested() {
  static const bool on = [] {
    const char* env = std::getenv("MAGI_FFA_FWD_PAIRS");
    return env != nullptr && env[0] == '1' && env[1] == '\0';
  }();
  return on;
}

FwdSchedule fwd_schedule(const FfaWork& work, const FwdScheduleKey& key, int device, void* stream,
                         bool* built) {
  const CudaFfaWork& w = prepared(work, device, stream);
  std::lock_guard lock(w.plans_mu);
  for (const CudaFfaWork::FwdPlanned& f : w.fwd_plans) {
    if (f.key == key) return f.schedule;
  }
  if (built != nullptr) *built = true;
  CudaFfaWork::FwdPlanned f{key, {}, nullptr};
  const HeadDimTiles t = tiles_for(key.head_dim);
  const bool wide = key.hopper && t.fwd_wide_block_n > 0 && key.forced_rows != kFwdBlockM;
  const bool narrow = !wide || key.forced_rows != kFwdWideBlockM;
  if (!key.hopper) {
    f.schedule.list = &w.lists.fwd;  // the portable kernel: its own grid
  } else {
    const int narrow_n = fwd_block_n(key.head_dim, key.head_dim_v);  // the kernel's key tiles
    const std::vector<int32_t> narrow_tiles = key_tiles(w.lists.fwd, narrow_n);
    const std::vector<int32_t> wide_tiles =
        wide ? key_tiles(w.lists.fwd_wide, t.fwd_wide_block_n) : std::vector<int32_t>{};
    std::vector<sm90::FwdCandidate> lists;
    std::vector<const DeviceWorkList*> device_lists;
    if (narrow) {
      lists.push_back(
          {narrow_tiles, sm90::fwd_cost(kFwdBlockM, narrow_n, key.head_dim, key.head_dim_v)});
      device_lists.push_back(&w.lists.fwd);
    }
    if (wide) {
      lists.push_back({wide_tiles, sm90::fwd_cost(kFwdWideBlockM, t.fwd_wide_block_n, key.head_dim,
                                                  key.head_dim_v)});
      device_lists.push_back(&w.lists.fwd_wide);
    }
    sm90::FwdChoice c = sm90::choose_fwd(lists, key.num_heads, key.num_sms, key.mode);
    const DeviceWorkList& list = *device_lists[c.list];
    f.schedule.list = &list;
    if (key.pairs && key.heads_per_kv % 2 != 0 && key.mode != sm90::FwdPlanMode::kAlways) {
      // Query heads cannot pair: twins of items that walk the same keys may, where the model
      // expects them no slower.
      sm90::FwdPlan twins = sm90::fwd_twin_rounds_plan(
          lists[c.list].item_tiles, list.key_class, key.num_heads, key.num_sms, lists[c.list].cost);
      if (!twins.start.empty() && twins.makespan <= c.plan.makespan) c.plan = std::move(twins);
    }
    const sm90::FwdPlan& plan = c.plan;
    const sm90::FwdKernelPlan kform = sm90::kernel_form(plan);
    const auto& [units, start] = kform;
    f.schedule.kv_pairs =
        key.pairs && sm90::fwd_plan_pairs(kform, key.num_heads, key.heads_per_kv, list.key_class);
    const int32_t grid = static_cast<int32_t>(start.size());
    // One image: [units][starts][cuts], each 16-byte aligned.
    const size_t unit_bytes = aligned(units.size() * sizeof(sm90::FwdUnit));
    const size_t start_bytes = aligned(start.size() * sizeof(int32_t));
    const size_t cut_bytes = plan.cuts.size() * sizeof(sm90::FwdCut);
    std::vector<unsigned char> host(unit_bytes + start_bytes + cut_bytes + 16);  // never empty
    std::memcpy(host.data(), units.data(), units.size() * sizeof(sm90::FwdUnit));
    if (grid) std::memcpy(host.data() + unit_bytes, start.data(), start.size() * sizeof(int32_t));
    if (cut_bytes) std::memcpy(host.data() + unit_bytes + start_bytes, plan.cuts.data(), cut_bytes);
    f.buffer = std::make_unique<UploadedBuffer>(host.data(), host.size(), device, stream,
                                                "FFA CUDA: the forward tile plans");
    const auto* base = static_cast<const unsigned char*>(f.buffer->data());
    f.schedule.plan_units = base;
    f.schedule.plan_start = reinterpret_cast<const int32_t*>(base + unit_bytes);
    f.schedule.plan_grid = grid;
    f.schedule.cuts = base + unit_bytes + start_bytes;
    f.schedule.num_cuts = static_cast<int32_t>(plan.cuts.size());
    f.schedule.pieces = plan.pieces;
  }
  w.fwd_plans.push_back(std::move(f));
  return w.fwd_plans.back().schedule;
}

namespace {

/// bwd_pack_walks' answer, made (no lock needed: the list's host arrays do not change). The
/// model weighs its widths in parallel, one thread each but the first (sm90::walks_by_traffic's
/// answer in the time of its slowest width: 3-15 ms a new 16k 64:8 mask one after another).
int32_t pack_walks_of(const DeviceWorkList& list, const sm90::PackProblem& pb, int32_t head_dim,
                      bool by_traffic) {
  if (!by_traffic || list.host_items.empty()) {  // the model replays the list's segments
    return sm90::pack_pays<kBwdBlockM>(list.item_cost, pb) ? pb.heads_per_kv : 1;
  }
  const std::vector<int32_t> widths = sm90::traffic_widths(list.item_cost, pb);
  const auto time_of = [&](int32_t n) {
    return sm90::traffic_time<kBwdBlockM>(n, list.item_cost, list.host_items, list.host_segs, pb,
                                          head_dim);
  };
  std::vector<std::future<double>> others;
  for (size_t i = 1; i < widths.size(); ++i) {
    try {
      others.push_back(std::async(std::launch::async, time_of, widths[i]));
    } catch (const std::system_error&) {
      others.push_back(std::async(std::launch::deferred, time_of, widths[i]));  // no thread
    }
  }
  std::vector<double> times;
  if (!widths.empty()) times.push_back(time_of(widths[0]));
  for (std::future<double>& f : others) times.push_back(f.get());
  return sm90::fastest_width(widths, times);
}

}  // namespace

int32_t bwd_pack_walks(const FfaWork& work, const DeviceWorkList& list, const sm90::PackProblem& pb,
                       int32_t head_dim, bool by_traffic, int device, void* stream) {
  const CudaFfaWork& w = prepared(work, device, stream);
  const CudaFfaWork::PackKey key{&list, pb, head_dim, by_traffic};
  std::shared_future<int32_t> made;
  {
    std::lock_guard lock(w.plans_mu);
    for (const auto& [k, walks] : w.packs) {
      if (k == key) return walks;
    }
    for (const auto& [k, future] : w.pending_packs) {
      if (k == key) made = future;
    }
  }
  // Not under the lock: the replay takes milliseconds.
  const int32_t walks = made.valid() ? made.get() : pack_walks_of(list, pb, head_dim, by_traffic);
  std::lock_guard lock(w.plans_mu);
  for (const auto& [k, kept] : w.packs) {
    if (k == key) return kept;  // another thread's answer, the same
  }
  w.packs.push_back({key, walks});
  return walks;
}

void bwd_pack_prefetch(const FfaWork& work, const DeviceWorkList& list, const sm90::PackProblem& pb,
                       int32_t head_dim, int device, void* stream) {
  const CudaFfaWork& w = prepared(work, device, stream);
  const CudaFfaWork::PackKey key{&list, pb, head_dim, true};
  std::lock_guard lock(w.plans_mu);
  for (const auto& entry : w.packs) {
    if (entry.first == key) return;
  }
  for (const auto& entry : w.pending_packs) {
    if (entry.first == key) return;
  }
  try {
    w.pending_packs.emplace_back(key, std::async(std::launch::async, [&list, pb, head_dim] {
                                        return pack_walks_of(list, pb, head_dim, true);
                                      }).share());
  } catch (const std::system_error&) {
    // No thread to be had: the backward makes the answer itself.
  }
}

DeviceTilePlan bwd_tile_plan(const FfaWork& work, const DeviceWorkList& list, int32_t num_heads,
                             int32_t heads_per_tile, int32_t grid, int64_t chunk_tiles,
                             sm90::TileOrder order, sm90::TileCuts cuts, int device, void* stream) {
  const CudaFfaWork& w = prepared(work, device, stream);
  cuts.on = cuts.on && !list.host_items.empty();
  MAGI_CHECK(heads_per_tile >= 1 && (heads_per_tile == 1 || !cuts.on),
             "FFA CUDA: a backward plan of ", heads_per_tile, " heads a tile with cuts");
  std::lock_guard lock(w.plans_mu);
  for (const CudaFfaWork::Plan& p : w.plans) {
    if (p.list == &list && p.num_heads == num_heads && p.heads_per_tile == heads_per_tile &&
        p.grid == grid && p.chunk_tiles == chunk_tiles && p.order == order && p.cuts == cuts) {
      return p.plan;
    }
  }
  // A tile of several query heads walks the item's query tiles once per head.
  const sm90::TilePlan plan = sm90::plan_tiles(sm90::walked_costs(list.item_cost, heads_per_tile),
                                               num_heads, grid, chunk_tiles, order, cuts);
  const sm90::CutWork cut =
      sm90::cut_work<kBwdBlockM>(plan, list.host_items, list.host_segs, num_heads);
  const size_t tile_bytes = aligned((plan.start.size() + plan.tiles.size()) * sizeof(int32_t));
  const size_t cut_bytes = aligned(cut.cuts.size() * sizeof(sm90::BwdCut));
  const size_t item_bytes = aligned(cut.items.size() * sizeof(FfaWorkItem));
  std::vector<unsigned char> host(tile_bytes + cut_bytes + item_bytes +
                                  cut.segs.size() * sizeof(FfaSegment));
  auto put = [&](size_t at, const void* src, size_t n) {
    if (n) std::memcpy(host.data() + at, src, n);
  };
  put(0, plan.start.data(), plan.start.size() * sizeof(int32_t));
  put(plan.start.size() * sizeof(int32_t), plan.tiles.data(), plan.tiles.size() * sizeof(int32_t));
  put(tile_bytes, cut.cuts.data(), cut.cuts.size() * sizeof(sm90::BwdCut));
  put(tile_bytes + cut_bytes, cut.items.data(), cut.items.size() * sizeof(FfaWorkItem));
  put(tile_bytes + cut_bytes + item_bytes, cut.segs.data(), cut.segs.size() * sizeof(FfaSegment));
  auto buffer = std::make_unique<UploadedBuffer>(host.data(), host.size(), device, stream,
                                                 "FFA CUDA: the backward tile plans");
  const auto* base = static_cast<const unsigned char*>(buffer->data());
  DeviceTilePlan d;
  d.start = reinterpret_cast<const int32_t*>(base);
  d.tiles = d.start + grid + 1;
  if (!cut.cuts.empty()) {
    d.cuts = base + tile_bytes;
    d.num_cuts = static_cast<int32_t>(cut.cuts.size());
    d.items = reinterpret_cast<const FfaWorkItem*>(base + tile_bytes + cut_bytes);
    d.segs = reinterpret_cast<const FfaSegment*>(base + tile_bytes + cut_bytes + item_bytes);
  }
  w.plans.push_back(
      {&list, num_heads, heads_per_tile, grid, chunk_tiles, order, cuts, std::move(buffer), d});
  return d;
}

}  // namespace magi::cuda
