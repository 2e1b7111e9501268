// The CUDA form of an FfaWork (magi/ffa.h): the forward and backward work lists (work_list.h)
// of the mask, built from its disjoint slices and uploaded to one device on first use, then
// kept with the FfaWork. A call looks them up with one atomic load.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cuda/ffa/params.h"
#include "kernels/cuda/ffa/sm90/bwd_pack.h"
#include "kernels/cuda/ffa/sm90/fwd_rows.h"
#include "kernels/cuda/ffa/sm90/tile_plan.h"
#include "magi/ffa.h"

namespace magi::cuda {

struct DeviceWorkList {
  const FfaWorkItem* items = nullptr;  // device
  const FfaSegment* segs = nullptr;    // device
  const int32_t* row_turns = nullptr;  // device, WorkList::row_turns (deterministic list only)
  int32_t num_items = 0;
  int32_t block = 0;               // rows (forward) or keys (backward) per item's block
  bool covers_keys = false;        // WorkList::covers_keys
  std::vector<int32_t> item_cost;  // host, backward lists: query tiles each item walks (0: none)
  int64_t walks = 0;               // ... their sum
  int64_t walking = 0;             // ... the items that walk (cost > 0)
  // backward lists: each 64-row block's additions to dQ per query head (device;
  // sm90::dq_block_adds), the blocks that have some, and whether every block has some
  const int32_t* dq_adds = nullptr;
  int32_t dq_blocks_added = 0;
  bool dq_rows_covered = false;
  // host, the default backward list: its items and segments (a plan's cut tiles' pieces are
  // clipped from them, sm90/tile_plan.h)
  std::vector<FfaWorkItem> host_items;
  std::vector<FfaSegment> host_segs;
  // host, forward lists: each item's segments' key counts, items[i]'s from seg_keys_begin[i];
  // each item's key class where CTA pairs are asked for (fwd_pairs_requested; sm90/fwd_plan.h:
  // fwd_key_classes), else empty
  std::vector<int32_t> seg_keys, seg_keys_begin, key_class;
};

/// Whether the environment asks for the forward's CTA pairs (MAGI_FFA_FWD_PAIRS=1, development:
/// ffa_cuda.cc); read once per process.
bool fwd_pairs_requested();

struct PreparedFfa {
  DeviceWorkList fwd;       // blocks of kFwdBlockM query rows
  DeviceWorkList fwd_wide;  // blocks of kFwdWideBlockM query rows (launch.h)
  DeviceWorkList bwd;       // blocks of kBwdBlockN keys
};

/// The work lists of `work` on cuda:`device` (current), uploaded on `stream` the first time.
const PreparedFfa& prepared_ffa(const FfaWork& work, int device, void* stream);

/// The deterministic backward's list of `work`: global key blocks of kBwdBlockN keys and their
/// row turns, or with `pass` (above head dim 128) of kBwdPassKeys keys, one key pass per item
/// (the turns count one addition per item and row tile; bwd_ws_dq_writer.cuh). Each is built
/// and uploaded on `stream` with the first deterministic call that needs it, since the turns
/// take 4 bytes per query tile; a mask of 2^31 or more tiles in it is refused then
/// (add_row_turns, work_list.h).
const DeviceWorkList& deterministic_bwd_list(const FfaWork& work, bool pass, int device,
                                             void* stream);

/// How the Hopper forward of a call runs (sm90/fwd_rows.h): its work list, and a tile plan in
/// device memory or the scheduler's rounds.
struct FwdSchedule {
  const DeviceWorkList* list = nullptr;
  const void* plan_units = nullptr;  // sm90::FwdUnit (FwdParams::plan_units); null: portable
  const int32_t* plan_start = nullptr;
  int32_t plan_grid = 0;
  const void* cuts = nullptr;  // sm90::FwdCut
  int32_t num_cuts = 0;
  int32_t pieces = 0;    // the cut tiles' pieces
  int32_t kv_pairs = 0;  // FwdParams::kv_pairs (asked for by FwdScheduleKey::pairs)
};

/// What fwd_schedule chooses among (the process-wide knobs included; ffa_cuda.cc).
struct FwdScheduleKey {
  int32_t num_heads, head_dim;
  int32_t head_dim_v;  // v's (O's): what a cut tile's piece stores and merges
  int num_sms;
  bool hopper;      // hopper_kernels_selected(): else the 128-row list in rounds
  int forced_rows;  // 128 or kFwdWideBlockM: that list alone; else both where the head dim has both
  sm90::FwdPlanMode mode;
  int32_t heads_per_kv;
  bool pairs;  // whether to plan for CTA pairs and check the plan (FwdSchedule::kv_pairs)

  bool operator==(const FwdScheduleKey&) const = default;
};

/// The forward schedule of `work` for `key` (sm90::choose_fwd over the lists' key tiles), built
/// and uploaded on `stream` the first time (then `*built` is set, where given), then kept with
/// the work.
FwdSchedule fwd_schedule(const FfaWork& work, const FwdScheduleKey& key, int device, void* stream,
                         bool* built = nullptr);

/// A backward tile plan in device memory (sm90/tile_plan.h; BwdParams::plan_start).
struct DeviceTilePlan {
  const int32_t* start = nullptr;
  const int32_t* tiles = nullptr;
  // With cut tiles: the list extended by the pieces' items (BwdParams::items, segs), and the
  // cuts (sm90::BwdCut); else null and 0.
  const FfaWorkItem* items = nullptr;
  const FfaSegment* segs = nullptr;
  const void* cuts = nullptr;
  int32_t num_cuts = 0;
};

/// The query heads a tile of the backward walks for `list` (prepared_ffa(work, device)'s bwd, or
/// a deterministic_bwd_list) and `pb`: pb.heads_per_kv where sm90::pack_pays says so, else 1; with
/// `by_traffic`, sm90::walks_by_traffic's n where the list keeps its segments on the host (the
/// default list), else the former. Decided the first time (several tile plans) and then kept
/// with the work.
int32_t bwd_pack_walks(const FfaWork& work, const DeviceWorkList& list, const sm90::PackProblem& pb,
                       int32_t head_dim, bool by_traffic, int device, void* stream);

/// Starts bwd_pack_walks' answer with `by_traffic` in a worker thread (std::async), unless made
/// or started before: a forward calls this for the backward that follows, which then waits for
/// the answer (a few ms of host work on a new mask; the thread's exception, if any, is thrown
/// there). Without a thread to be had, nothing.
void bwd_pack_prefetch(const FfaWork& work, const DeviceWorkList& list, const sm90::PackProblem& pb,
                       int32_t head_dim, int device, void* stream);

/// The tile plan of `list` (prepared_ffa(work, device)'s bwd, or a deterministic_bwd_list) for
/// `num_heads` heads of tiles on `grid` CTAs in chunks of `chunk_tiles` tiles in `order`, with
/// `cuts` (the default list only; sm90/tile_plan.h), built and uploaded on `stream` the first
/// time, then kept with the work. A tile walks `heads_per_tile` query heads (BwdParams::
/// pack_heads; > 1 only without cuts), so it costs that many walks.
DeviceTilePlan bwd_tile_plan(const FfaWork& work, const DeviceWorkList& list, int32_t num_heads,
                             int32_t heads_per_tile, int32_t grid, int64_t chunk_tiles,
                             sm90::TileOrder order, sm90::TileCuts cuts, int device, void* stream);

}  // namespace magi::cuda
