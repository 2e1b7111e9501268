// Host side of the CUDA FFA kernels: the kernels' limits, the prepared work lists of the mask
// (uploaded once per device, ffa/prepared_work.h), kernel parameters, one launch.
#include "kernels/cuda/ffa_cuda.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <string>
#include <utility>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/ffa/device_info.h"
#include "kernels/cuda/ffa/launch.h"
#include "kernels/cuda/ffa/prepared_work.h"
#include "kernels/cuda/ffa/sm90/bwd_cut.h"
#include "kernels/cuda/ffa/sm90/bwd_order.h"
#include "kernels/cuda/ffa/sm90/bwd_pack.h"
#include "kernels/cuda/ffa/sm90/dq_cast.h"
#include "kernels/cuda/ffa/sm90/fwd_plan.h"
#include "kernels/cuda/ffa/sm90/fwd_rows.h"
#include "kernels/cuda/ffa/sm90/tile_plan.h"
#include "kernels/cuda/ffa/sm90/tile_scheduler.h"
#include "kernels/cuda/ffa/tile_table.h"
#include "kernels/cuda/runtime/tensor_ops_cuda.h"
#include "magi/check.h"

namespace magi::cuda {
namespace {

/// Whether runs of `elems` elements of t's rows and heads are aligned to their size: the base
/// and the row / head strides.
bool runs_aligned(const TensorView& t, int64_t elems) {
  const auto bytes = static_cast<uintptr_t>(elems) * dtype_size(t.dtype);
  return reinterpret_cast<uintptr_t>(t.data) % bytes == 0 && t.strides[0] % elems == 0 &&
         t.strides[1] % elems == 0;
}

/// q/k/v/dout, and dq for the Hopper backward: 16-byte aligned base and row / head strides
/// (cp.async and TMA move 16 bytes).
void check_16b(std::string_view fn, const TensorView& t, const char* name) {
  const int64_t elems = 16 / static_cast<int64_t>(dtype_size(t.dtype));
  MAGI_CHECK(runs_aligned(t, elems), fn, ": ", name, " = ", t.describe(),
             ": the CUDA kernels need a 16-byte aligned base and row/head strides that are "
             "multiples of ",
             elems, " elements");
}

/// Epilogues store element pairs: even strides and pair-aligned base.
void check_pairs(std::string_view fn, const TensorView& t, const char* name) {
  MAGI_CHECK(runs_aligned(t, 2), fn, ": ", name, " = ", t.describe(),
             ": the CUDA kernels need a pair-aligned base and even strides");
}

Elem elem_of(DType t) { return t == DType::kBFloat16 ? Elem::kBf16 : Elem::kFp16; }

template <size_t I = 0>
std::string supported_head_dims() {
  if constexpr (I == std::size(kHeadDimTiles)) {
    return "";
  } else {
    return (I ? ", " : "") + std::to_string(kHeadDimTiles[I].head_dim) +
           supported_head_dims<I + 1>();
  }
}

/// How the warp-specialised backward's tiles go to its `ctas` CTAs (sm90/tile_plan.h).
struct BwdPlanShape {
  int64_t chunk_tiles = 0;  // 0: the scheduler's rounds, no plan
  sm90::TileOrder order;
  sm90::TileCuts cuts;
};

/// Whether the default mode's backward of `sq` query rows at head dims d / dv plans its tiles in
/// key order (sm90/bwd_order.h), on the Hopper kernels at head dims up to 128.
/// MAGI_FFA_BWD_ORDER (development knob): 0 never, 1 wherever it can.
bool bwd_key_order(int64_t sq, int64_t d, int64_t dv, const DeviceWorkList& default_list) {
  static const char knob = [] {
    const char* env = std::getenv("MAGI_FFA_BWD_ORDER");
    return env != nullptr && (env[0] == '0' || env[0] == '1') && env[1] == '\0' ? env[0] : '\0';
  }();
  if (knob == '0' || d > kNarrowMaxHeadDim || !hopper_kernels_selected()) return false;
  if (knob == '1') return true;
  return sm90::key_order_pays(default_list.walks, default_list.walking, sq,
                              sm90::bwd_row_bytes(d, dv), current_l2_bytes());
}

/// By default a host tile plan in chunks of k grids, k = 2 (bench/NOTES.md v28: against the
/// scheduler's rounds +15 % on 8k causal 64:8, +22-28 % on 32k varlen causal, full masks within
/// noise), k = 1 above head dim 128 (a chunk's rows then take as many bytes of L2 as two grids'
/// at 128: 32k causal hd 256 +9 %, v35); MAGI_FFA_BWD_TILE_PLAN=<k> (k = 1..8) picks another k
/// for every head dim, 0 the rounds (development knob). The deterministic mode always plans,
/// whatever the knob (the rounds could deadlock on its turns): items in list order (its turns'
/// order, work_list.h), head-major (few heads' rows in L2), chunks of one tile (starts in key
/// order: no CTA queues at a turn; tile_plan.h, bench/NOTES.md v29).
/// MAGI_FFA_BWD_DET_HEAD_GROUP=<g> (development knob, for tests of the order's independence: 0
/// item-major) sets its head group. The last chunk's tiles are cut (sm90/tile_plan.h: TileCuts)
/// in the kernels of one key pass per item (head dims up to 128, and 256 in D passes, with v's
/// head dim equal to q's) where the tiles walk 64 query tiles or more on average: on the H200
/// the busiest SM's cycles fell 0.9-3.2 % on five of six harness shapes, the sixth (8k causal
/// hd 128) within 0.3 %, while 2k full 64:8 (32 query tiles a tile) lost 8 % of its time
/// (bench/NOTES.md v44), each under ncu, one launch at a time. On an H100 in back-to-back calls
/// (v54), the MHA tiles (dK / dV stored in 16 bits by their one owner: the pieces' slots and the
/// merge kernel) ran cut 5-8 % faster than whole at 8k causal (hd 128, 256), at the whole
/// tiles' rate within the +-4 % spread elsewhere; the GQA tiles 0-4 % faster than with the
/// wrap-around of the whole last chunk (TileCuts, v53). MAGI_FFA_BWD_CUTS (development knob):
/// 0 no cuts, 1 cuts at any walk (other values: the default).
/// `key_order`: bwd_key_order's plan (the deterministic mode's shape, head-major).
BwdPlanShape bwd_plan_shape(bool deterministic, bool key_order, int32_t ctas, int64_t head_dim,
                            int64_t head_dim_v) {
  static const int forced = [] {  // -1: not forced
    const char* env = std::getenv("MAGI_FFA_BWD_TILE_PLAN");
    if (env == nullptr) return -1;
    return env[0] >= '0' && env[0] <= '8' && env[1] == '\0' ? env[0] - '0' : -1;
  }();
  const int chunks = forced >= 0 ? forced : head_dim > 128 ? 1 : 2;
  static const int32_t det_group = [] {
    const char* env = std::getenv("MAGI_FFA_BWD_DET_HEAD_GROUP");
    return env == nullptr ? 1 : std::max(0, std::atoi(env));
  }();
  static const sm90::TileCuts knob = [] {  // as the knob says, for the kernels that can cut
    const char* env = std::getenv("MAGI_FFA_BWD_CUTS");
    const char value = env != nullptr && env[0] != '\0' && env[1] == '\0' ? env[0] : '\0';
    sm90::TileCuts cuts;
    cuts.on = value != '0';
    cuts.min_walk = value == '1' ? 0 : sm90::kCutMinWalk;
    return cuts;
  }();
  // The deterministic list (that mode's, or the default mode's in key order): one-tile chunks.
  if (deterministic || key_order) {
    return {1, sm90::TileOrder{deterministic ? det_group : 1}, sm90::TileCuts{}};
  }
  const bool one_pass = head_dim <= kNarrowMaxHeadDim || bwd_d_passes(static_cast<int>(head_dim));
  sm90::TileCuts plan_cuts = knob;
  plan_cuts.on = plan_cuts.on && one_pass && head_dim_v == head_dim;
  return {int64_t{chunks} * ctas, sm90::TileOrder{}, plan_cuts};
}

/// The forward's schedule (prepared_work.h: fwd_schedule, sm90/fwd_rows.h). Development knobs,
/// read once per process: MAGI_FFA_FWD_ROWS=128 or kFwdWideBlockM (192; 256 in a development
/// build, launch.h) forces that list (tests of both variants); MAGI_FFA_FWD_PLAN=0 keeps the
/// scheduler's rounds, 2 plans every call (tests of the plans' kernels), anything else plans where
/// the model expects a gain. MAGI_FFA_FWD_PAIRS=1 (development, bench/NOTES.md v41, v46; the
/// kernels hold it only when built with -DMAGI_FFA_FWD_PAIRS=1) lets CTA pairs that walk the
/// same K / V share its loads (FwdParams::kv_pairs): two query heads of one kv head, or with an
/// odd number of query heads per kv head two items of one key class (fwd_twin_rounds_plan).
FwdSchedule fwd_schedule_of(const FfaFwdArgs& a, bool* built = nullptr) {
  static const int forced = [] {
    const char* env = std::getenv("MAGI_FFA_FWD_ROWS");
    return env == nullptr ? 0 : std::atoi(env);
  }();
  static const sm90::FwdPlanMode mode = [] {
    const char* env = std::getenv("MAGI_FFA_FWD_PLAN");
    const int v = env == nullptr ? 1 : std::atoi(env);
    return v == 0   ? sm90::FwdPlanMode::kRounds
           : v == 2 ? sm90::FwdPlanMode::kAlways
                    : sm90::FwdPlanMode::kModel;
  }();
  const FwdScheduleKey key{static_cast<int32_t>(a.q.shape[1]),
                           static_cast<int32_t>(a.q.shape[2]),
                           static_cast<int32_t>(a.v.shape[2]),
                           current_sm_count(),
                           hopper_kernels_selected(),
                           forced,
                           mode,
                           static_cast<int32_t>(a.q.shape[1] / a.k.shape[1]),
                           fwd_pairs_requested()};
  return fwd_schedule(*a.work, key, a.q.device.index, a.stream, built);
}

bool head_dim_supported(int64_t d) {
  for (const HeadDimTiles& t : kHeadDimTiles) {
    if (t.head_dim == d) return true;
  }
  return false;
}

/// The (q / k, v) head dim pairs apart from equal dims, as "192 / 128, ...".
std::string supported_value_head_dims() {
  std::string out;
  for (const ValueHeadDim& p : kValueHeadDims) {
    out += (out.empty() ? "" : ", ") + std::to_string(p.head_dim) + " / " +
           std::to_string(p.head_dim_v);
  }
  return out;
}

/// Whether (d, dv), dv != d, is a pair of kValueHeadDims.
bool value_head_dims_supported(int64_t d, int64_t dv) {
  for (const ValueHeadDim& p : kValueHeadDims) {
    if (p.head_dim == d && p.head_dim_v == dv) return true;
  }
  return false;
}

/// fn.operator()<e, kD, kDv>().
template <int kD, int kDv, class Fn>
void call_typed(Elem e, Fn&& fn) {
  if (e == Elem::kBf16) {
    fn.template operator()<Elem::kBf16, kD, kDv>();
  } else {
    fn.template operator()<Elem::kFp16, kD, kDv>();
  }
}

/// Calls fn.operator()<E, D, Dv>() for the instantiation of head dims (d, dv): a row of
/// kHeadDimTiles when dv == d, else a pair of kValueHeadDims.
template <size_t I = 0, size_t J = 0, class Fn>
void dispatch_kernel(Elem e, int64_t d, int64_t dv, Fn&& fn) {
  if constexpr (I < std::size(kHeadDimTiles)) {
    constexpr int kD = kHeadDimTiles[I].head_dim;
    if (d != kD || dv != kD) return dispatch_kernel<I + 1, J>(e, d, dv, std::forward<Fn>(fn));
    call_typed<kD, kD>(e, std::forward<Fn>(fn));
  } else if constexpr (J < std::size(kValueHeadDims)) {
    constexpr int kD = kValueHeadDims[J].head_dim, kDv = kValueHeadDims[J].head_dim_v;
    if (d != kD || dv != kDv) return dispatch_kernel<I, J + 1>(e, d, dv, std::forward<Fn>(fn));
    call_typed<kD, kDv>(e, std::forward<Fn>(fn));
  } else {
    MAGI_FAIL("FFA CUDA: head dims ", d, " / ", dv, " have no kernel");
  }
}

/// The inputs every pass reads: q, k, v (and dout) in bf16 / fp16 with a supported head dim.
void check_inputs(std::string_view fn, const TensorView& q, const TensorView& k,
                  const TensorView& v, const TensorView& lse) {
  MAGI_CHECK(q.dtype == DType::kBFloat16 || q.dtype == DType::kFloat16, fn, ": q = ", q.describe(),
             ": the CUDA kernels take bfloat16 or float16 inputs");
  if (v.shape[2] == q.shape[2]) {
    MAGI_CHECK(head_dim_supported(q.shape[2]), fn, ": q = ", q.describe(),
               ": the CUDA kernels take head_dim ", supported_head_dims(), ", got ", q.shape[2]);
  } else {
    MAGI_CHECK(value_head_dims_supported(q.shape[2], v.shape[2]), fn, ": v = ", v.describe(),
               ": its head dim ", v.shape[2], " differs from q's ", q.shape[2],
               "; the CUDA kernels take q / k and v head dims ", supported_value_head_dims(),
               " or one head dim for all three (the CPU kernels take any)");
  }
  check_16b(fn, q, "q");
  check_16b(fn, k, "k");
  check_16b(fn, v, "v");
  MAGI_CHECK(lse.dtype == DType::kFloat32, fn, ": lse = ", lse.describe(),
             ": must be float32 on CUDA");
}

/// Score parameters in the kernels' log2 form.
struct Scores {
  float scale, scale_log2, scale_cap, softcap_log2;
  int32_t use_softcap;
};

Scores scores_of(const ScoreParams& p) {
  Scores s{};
  s.scale = static_cast<float>(p.scale);
  s.scale_log2 = s.scale * kLog2e;
  s.use_softcap = p.softcap > 0 ? 1 : 0;
  s.scale_cap = s.use_softcap ? static_cast<float>(p.scale / p.softcap) : 0.f;
  s.softcap_log2 = s.use_softcap ? static_cast<float>(p.softcap * kLog2e) : 0.f;
  return s;
}

/// The fields FwdParams and BwdParams share: q, k, v and lse with their strides, the sizes and
/// the score parameters in log2 form.
template <class Params>
void set_inputs(Params& p, const TensorView& q, const TensorView& k, const TensorView& v,
                const TensorView& lse, const Scores& sc) {
  p.q = q.data;
  p.k = k.data;
  p.v = v.data;
  p.lse = lse.ptr<float>();
  p.q_row_stride = q.strides[0];
  p.q_head_stride = q.strides[1];
  p.k_row_stride = k.strides[0];
  p.k_head_stride = k.strides[1];
  p.v_row_stride = v.strides[0];
  p.v_head_stride = v.strides[1];
  p.lse_row_stride = lse.strides[0];
  p.lse_head_stride = lse.strides[1];
  p.total_q = static_cast<int32_t>(q.shape[0]);
  p.total_k = static_cast<int32_t>(k.shape[0]);
  p.num_heads_q = static_cast<int32_t>(q.shape[1]);
  p.heads_per_kv = static_cast<int32_t>(q.shape[1] / k.shape[1]);
  p.scale_log2 = sc.scale_log2;
  p.scale_cap = sc.scale_cap;
  p.softcap_log2 = sc.softcap_log2;
  p.use_softcap = sc.use_softcap;
}

FwdOutMode out_mode_of(const FfaFwdArgs& a) {
  if (a.accumulate) return FwdOutMode::kMergeFp32;
  if (a.out.dtype == DType::kBFloat16) return FwdOutMode::kStoreBf16;
  if (a.out.dtype == DType::kFloat16) return FwdOutMode::kStoreFp16;
  return FwdOutMode::kStoreFp32;
}

/// Where one backward's scratch lies in its workspace (offsets in bytes; -1: not needed).
struct BwdScratch {
  bool overwrite = false;     // dk / dv in q's dtype
  bool dq_overwrite = false;  // dq in q's dtype: summed in fp32 scratch (dq_offset, zeroed)
  bool dq_cast = false;       // ... and cast by the kernel itself (sm90/dq_cast.h), else after it
  bool store_direct = false;  // ... written by the kernel itself
  int32_t pack = 1;           // query heads a tile walks (BwdParams::pack_heads)
  bool ws_kernel = false;     // the warp-specialised Hopper backward (head-major statistics)
  int64_t stat_stride = 0;    // rows per head of the head-major statistics
  size_t stats_bytes = 0;     // D (and lse2 for ws_kernel)
  size_t dkv_offset = 0;      // fp32 dk then dv, when overwrite && !store_direct
  size_t dk_elems = 0;        // elements of the fp32 dk
  size_t dv_elems = 0;        // ... of the fp32 dv after it (shaped like v)
  size_t turns_offset = 0;    // deterministic: the dq then dk/dv turn counters (int32, zeroed)
  size_t dq_turns = 0;        // ceil(Sq / kBwdBlockM) * Hq
  size_t dkv_turns = 0;       // items * Hkv
  DeviceTilePlan plan;        // the Hopper backward's tile plan (null start: the rounds)
  size_t cut_offset = 0;      // store_direct with cut tiles: the pieces' slots (sm90/bwd_cut.h)
  int64_t dq_blocks = 0;      // (64-row block, query head)s of dq: ceil(Sq / 64) * Hq
  size_t dq_offset = 0;       // dq_overwrite: the fp32 dq [Sq, Hq, D]
  size_t dq_left_offset = 0;  // dq_cast: the blocks' counters and queue (BwdParams::dq_left,
                              // cast_queue, cast_ends: 2 dq_blocks + 2 int32)
  size_t bytes = 0;
};

size_t round256(size_t n) { return (n + 255) / 256 * 256; }

/// The backward work list of a call on cuda:`device` (the current device): the deterministic
/// one (global key blocks, row turns; of one key pass each above head dim 128) in the
/// deterministic mode or in key order (bwd_key_order), else the default one.
const DeviceWorkList& bwd_list(const FfaBwdArgs& a, int device) {
  if (!a.deterministic) {
    const DeviceWorkList& list = prepared_ffa(*a.work, device, a.stream).bwd;
    if (!bwd_key_order(a.q.shape[0], a.q.shape[2], a.v.shape[2], list)) return list;
  }
  return deterministic_bwd_list(*a.work, a.q.shape[2] > kNarrowMaxHeadDim, device, a.stream);
}

/// Whether the default mode's `list` (bwd_list's) is in key order (bwd_key_order).
bool in_key_order(const FfaBwdArgs& a, const DeviceWorkList& list) {
  return !a.deterministic && list.row_turns != nullptr;
}

/// MAGI_FFA_BWD_PACK (development): 0 per head, 1 packed wherever it can, 2 the rule
/// (sm90::pack_pays), 3 (the default) v62's model (sm90::walks_by_traffic).
char bwd_pack_knob() {
  static const char knob = [] {
    const char* env = std::getenv("MAGI_FFA_BWD_PACK");
    return env == nullptr || env[0] < '0' || env[0] > '3' ? '3' : env[0];
  }();
  return knob;
}

/// The problem bwd_pack_walks decides for hq query heads on hkv of head dims d / dv over the
/// default mode's `list`, where tiles of several query heads are possible (GQA, one key pass, v's
/// head dim q's, the Hopper kernels, not in key order); else nullopt.
std::optional<sm90::PackProblem> bwd_pack_problem(int64_t hq, int64_t hkv, int64_t d, int64_t dv,
                                                  bool key_order) {
  if (hq <= hkv || d > kNarrowMaxHeadDim || dv != d || !hopper_kernels_selected() ||
      !bwd_kernels_pack_heads()) {
    return std::nullopt;
  }
  // The per-head plan's shape: with one CTA, its chunk is chunk_tiles grids.
  const BwdPlanShape shape = bwd_plan_shape(false, key_order, 1, d, dv);
  if (shape.chunk_tiles == 0) return std::nullopt;  // the rounds (MAGI_FFA_BWD_TILE_PLAN=0)
  return sm90::PackProblem{static_cast<int32_t>(hq),
                           static_cast<int32_t>(hq / hkv),
                           current_sm_count(),
                           static_cast<int32_t>(shape.chunk_tiles),
                           shape.cuts,
                           sm90::bwd_row_bytes(d, dv),
                           current_l2_bytes()};
}

/// The query heads a tile of the warp-specialised backward walks (BwdParams::pack_heads): with
/// GQA, up to one kv head's heads_per_kv, where the kernel makes one key pass (head dims up to
/// 128, v's equal to q's) and the call overwrites dk / dv outside the deterministic mode. A tile
/// of a whole kv head loads K / V once for its heads, sums dK / dV in registers and stores them
/// in 16 bits itself (no fp32 accumulators, no cast) and pays a tile's fixed cost (3.4 query
/// tiles, bench/NOTES.md v44) once; one of fewer heads adds dK / dV into the fp32 accumulators.
/// On an H100 packed tiles ran 1.29x at 8k swa_causal 64:8 and 1.14x at 2k full, but 0.70-0.79x
/// where the packed plan is unbalanced (2k / 32k causal) or a round's rows of 8 heads overflow
/// the L2 (32k varlen_causal) (v55); tiles of two heads ran 1.07-1.37x packed ones at 8k / 16k
/// varlen_causal (v62, v63). By default the n of sm90::walks_by_traffic (v62's model of steps
/// and DRAM bytes; a few ms of host work on a new mask, which the forward starts in a worker
/// thread: prefetch_bwd_pack), the list in key order the rule (sm90::pack_pays); decided once per
/// mask and problem, kept with the work. MAGI_FFA_BWD_PACK: bwd_pack_knob.
/// MAGI_FFA_BWD_PACK_WALKS=<n> (development, bench/NOTES.md v60): tiles of n query heads
/// wherever n divides heads_per_kv, whatever the rest says.
int32_t bwd_pack_heads(const FfaBwdArgs& a, const DeviceWorkList& list, bool ws_kernel) {
  static const int walks = [] {
    const char* env = std::getenv("MAGI_FFA_BWD_PACK_WALKS");
    return env == nullptr ? 0 : std::max(0, std::atoi(env));
  }();
  const int64_t hq = a.q.shape[1], hkv = a.k.shape[1], d = a.q.shape[2], dv = a.v.shape[2];
  const bool can = ws_kernel && !a.deterministic && hq > hkv && d <= kNarrowMaxHeadDim && dv == d &&
                   bwd_kernels_pack_heads();
  if (can && walks > 1 && (hq / hkv) % walks == 0) return walks;
  const char knob = bwd_pack_knob();
  if (!can || a.dk.dtype != a.q.dtype || knob == '0') return 1;
  if (knob == '1') return static_cast<int32_t>(hq / hkv);
  const bool key_order = in_key_order(a, list);
  const std::optional<sm90::PackProblem> pb = bwd_pack_problem(hq, hkv, d, dv, key_order);
  if (!pb) return 1;
  return bwd_pack_walks(*a.work, list, *pb, static_cast<int32_t>(d), knob == '3' && !key_order,
                        a.q.device.index, a.stream);
}

/// From a forward that has just planned for its mask and shapes (a forward on a mask seen before
/// does nothing here): starts bwd_pack_heads' model for the backward that usually follows in a
/// worker thread (bwd_pack_prefetch), so that its host work overlaps the forward's kernels.
/// Where the backward's dtypes or the deterministic mode rule tiles of several heads out, the
/// answer is not used.
void prefetch_bwd_pack(const FfaFwdArgs& a, int device) {
  const int64_t hq = a.q.shape[1], hkv = a.k.shape[1], d = a.q.shape[2], dv = a.v.shape[2];
  if (bwd_pack_knob() != '3' || hq <= hkv) return;  // MHA: nothing to choose
  const DeviceWorkList& list = prepared_ffa(*a.work, device, a.stream).bwd;
  if (list.host_items.empty() || bwd_key_order(a.q.shape[0], d, dv, list)) return;
  if (const auto pb = bwd_pack_problem(hq, hkv, d, dv, false)) {
    bwd_pack_prefetch(*a.work, list, *pb, static_cast<int32_t>(d), device, a.stream);
  }
}

/// Needs the current device to be q's (hopper_kernels_selected()).
BwdScratch bwd_scratch(const FfaBwdArgs& a, const DeviceWorkList& list) {
  BwdScratch s;
  const int64_t sq = a.q.shape[0], sk = a.k.shape[0], hq = a.q.shape[1], hkv = a.k.shape[1];
  if (sq == 0 || sk == 0 || list.num_items == 0) return s;
  s.overwrite = a.dk.dtype == a.q.dtype;
  s.dq_overwrite = a.dq.dtype == a.q.dtype;
  // On Hopper the warp-specialised backward (the deterministic mode's; checked earlier).
  s.ws_kernel = hopper_kernels_selected();
  // Its dQ writer adds whole tiles through a TMA map of the fp32 dq. NOTE: checked here, where
  // the kernel is known (the workspace query runs this before anything is written).
  if (s.ws_kernel && !s.dq_overwrite) check_16b("ffa_backward", a.dq, "dq");
  // The cast by the kernel (sm90/dq_cast.h) is a development variant, asked for with
  // MAGI_FFA_BWD_DQ_CAST=1 (bench/NOTES.md v57-v59: exact, but its casts move the bytes the
  // separate pass moves and cost as much). Its stores take 4 elements (8 bytes) at a time.
  static const bool cast_knob = [] {
    const char* env = std::getenv("MAGI_FFA_BWD_DQ_CAST");
    return env != nullptr && env[0] == '1' && env[1] == '\0';
  }();
  s.dq_cast = s.dq_overwrite && s.ws_kernel && cast_knob &&
              sm90::bwd_casts_dq(static_cast<int>(a.q.shape[2]), static_cast<int>(a.v.shape[2])) &&
              runs_aligned(a.dq, 4) &&
              // NOTE: the deterministic list's additions are counted on its aligned walks.
              !in_key_order(a, list);
  // NOTE: the blocks' counters are numbered in 32 bits (BwdParams::dq_left).
  s.dq_blocks = (sq + kBwdBlockM - 1) / kBwdBlockM * hq;
  MAGI_CHECK(!s.dq_cast || s.dq_blocks < (int64_t{1} << 31), "FFA CUDA: ", sq, " query rows x ", hq,
             " heads: too many dQ blocks");
  // Overwrite mode, stored by the kernel: needs the Hopper kernel and one writer per key row
  // (the lists' key blocks are disjoint, work_list.h; one query head per kv head, or a tile per
  // kv head walking all of its query heads). Otherwise fp32 scratch accumulators, cast into
  // dk / dv at the end.
  s.pack = bwd_pack_heads(a, list, s.ws_kernel);
  s.store_direct = s.ws_kernel && s.overwrite && (hq == hkv || s.pack == hq / hkv);
  s.stat_stride = (sq + 3) / 4 * 4;
  const int64_t stat_floats = s.ws_kernel ? 2 * hq * s.stat_stride : sq * hq;
  s.stats_bytes = static_cast<size_t>(stat_floats) * sizeof(float);
  s.bytes = round256(s.stats_bytes);
  if (s.overwrite && !s.store_direct) {
    s.dkv_offset = s.bytes;
    s.dk_elems = static_cast<size_t>(sk * hkv * a.k.shape[2]);
    s.dv_elems = static_cast<size_t>(sk * hkv * a.v.shape[2]);
    s.bytes = round256(s.bytes + (s.dk_elems + s.dv_elems) * sizeof(float));
  }
  if (s.dq_overwrite) {
    s.dq_offset = s.bytes;
    s.bytes = round256(s.bytes + static_cast<size_t>(sq * hq * a.q.shape[2]) * sizeof(float));
  }
  if (s.dq_cast) {
    s.dq_left_offset = s.bytes;
    s.bytes = round256(s.bytes + static_cast<size_t>(2 * s.dq_blocks + 2) * sizeof(int32_t));
  }
  if (a.deterministic) {
    s.turns_offset = s.bytes;
    s.dq_turns = static_cast<size_t>(s.dq_blocks);
    s.dkv_turns = static_cast<size_t>(list.num_items) * static_cast<size_t>(hkv);
    s.bytes = round256(s.bytes + (s.dq_turns + s.dkv_turns) * sizeof(int32_t));
  }
  if (s.ws_kernel) {
    const int64_t tiles = static_cast<int64_t>(list.num_items) * (hq / s.pack);
    MAGI_CHECK(tiles < (int64_t{1} << 31), "FFA CUDA: grid of ", tiles, " blocks is too large");
    const int32_t ctas =
        sm90::TileScheduler::grid_for(static_cast<int32_t>(tiles), current_sm_count());
    // NOTE: the plan is built and uploaded (cached with the work) here, by the first of the
    // workspace query and the call: both then count as the call that uploads before a CUDA
    // graph's capture (ffa.h).
    BwdPlanShape shape =
        bwd_plan_shape(a.deterministic, in_key_order(a, list), ctas, a.q.shape[2], a.v.shape[2]);
    shape.cuts.on = shape.cuts.on && s.pack == 1;
    if (shape.chunk_tiles > 0) {
      s.plan =
          bwd_tile_plan(*a.work, list, static_cast<int32_t>(hq / s.pack), s.pack, ctas,
                        shape.chunk_tiles, shape.order, shape.cuts, a.q.device.index, a.stream);
    }
    if (s.store_direct && s.plan.num_cuts > 0) {
      s.cut_offset = s.bytes;
      const int64_t floats =
          2 * int64_t{s.plan.num_cuts} *
          sm90::bwd_cut_slot_floats(static_cast<int>(a.q.shape[2]), kBwdBlockN / 16);
      s.bytes = round256(s.bytes + static_cast<size_t>(floats) * sizeof(float));
    }
  }
  return s;
}

}  // namespace

void check_ffa_forward(std::string_view fn, const FfaFwdArgs& a) {
  check_inputs(fn, a.q, a.k, a.v, a.lse);
  if (a.accumulate) {
    MAGI_CHECK(a.out.dtype == DType::kFloat32, fn, ": out = ", a.out.describe(),
               ": accumulate mode needs a float32 out on CUDA");
  } else {
    MAGI_CHECK(a.out.dtype != DType::kFloat64, fn, ": out = ", a.out.describe(),
               ": the CUDA kernels store bfloat16, float16 or float32");
  }
  check_pairs(fn, a.out, "out");
}

void check_ffa_backward(std::string_view fn, const FfaBwdArgs& a) {
  check_inputs(fn, a.q, a.k, a.v, a.lse);
  check_16b(fn, a.dout, "dout");
  MAGI_CHECK(a.dout.dtype == a.q.dtype, fn, ": dout = ", a.dout.describe(),
             ": must have q's dtype on CUDA");
  MAGI_CHECK(a.out.dtype != DType::kFloat64, fn, ": out = ", a.out.describe(),
             ": the CUDA kernels read bfloat16, float16 or float32");
  const bool overwrite = a.dk.dtype == a.q.dtype && a.dv.dtype == a.q.dtype;
  MAGI_CHECK((a.dq.dtype == DType::kFloat32 || a.dq.dtype == a.q.dtype) &&
                 (overwrite || (a.dk.dtype == DType::kFloat32 && a.dv.dtype == DType::kFloat32)),
             fn, ": dq = ", a.dq.describe(), ", dk = ", a.dk.describe(), ", dv = ", a.dv.describe(),
             ": on CUDA dq, dk and dv are each a float32 accumulator or of q's dtype (dk and dv "
             "alike)");
  // The kernels add (red.v2) and store element pairs into them: a misaligned pair would be a
  // sticky misaligned-address fault of the whole CUDA context, not an error of this call.
  check_pairs(fn, a.dq, "dq");
  check_pairs(fn, a.dk, "dk");
  check_pairs(fn, a.dv, "dv");
  if (a.deterministic) {
    DeviceGuard guard(a.q.device.index);
    MAGI_CHECK(hopper_kernels_selected(), fn,
               ": deterministic = true on CUDA needs the Hopper kernels (compute capability 9.0, "
               "a build with sm_90a, MAGI_FFA_PORTABLE unset); this call runs the portable "
               "kernels, whose backward adds in any order");
  }
}

size_t ffa_forward_workspace_bytes(const FfaFwdArgs& a) {
  if (a.q.shape[0] == 0) return 0;
  DeviceGuard guard(a.q.device.index);
  bool built = false;
  const FwdSchedule s = fwd_schedule_of(a, &built);
  if (built) prefetch_bwd_pack(a, a.q.device.index);
  return s.pieces == 0 ? 0
                       : static_cast<size_t>(sm90::fwd_split_bytes(s.pieces, s.list->block,
                                                                   static_cast<int>(a.v.shape[2])));
}

size_t ffa_backward_workspace_bytes(const FfaBwdArgs& a) {
  const int device = a.q.device.index;
  DeviceGuard guard(device);
  return bwd_scratch(a, bwd_list(a, device)).bytes;
}

void ffa_forward(const FfaFwdArgs& a) {
  const TensorView &q = a.q, &k = a.k, &v = a.v, &out = a.out, &lse = a.lse;
  const int64_t sq = q.shape[0], hq = q.shape[1], d = q.shape[2];
  if (sq == 0) return;
  const int device = q.device.index;
  DeviceGuard guard(device);
  bool built = false;  // planned just now: a new mask or shape
  const FwdSchedule sched = fwd_schedule_of(a, &built);
  if (built) prefetch_bwd_pack(a, device);
  const DeviceWorkList& list = *sched.list;
  if (list.num_items == 0) return;
  MAGI_CHECK(sched.pieces == 0 || a.workspace != nullptr,
             "FFA CUDA: the forward's plan needs ffa_forward_workspace_bytes() of workspace");

  FwdParams p{};
  set_inputs(p, q, k, v, lse, scores_of(a.scores));
  p.out = out.data;
  p.o_row_stride = out.strides[0];
  p.o_head_stride = out.strides[1];
  p.out_mode = out_mode_of(a);
  // max_logits wants the exact row max: the softmax's reference then follows every increase
  // (the Hopper forward tracks it instead where it can, sm90/fwd_launch.cuh).
  p.max_logits = a.max_logits.ndim > 0 ? a.max_logits.ptr<float>() : nullptr;
  p.rescale_slack = p.max_logits != nullptr ? 0.f : kRescaleSlack;
  p.items = list.items;
  p.segs = list.segs;
  p.num_items = list.num_items;
  p.block_m = list.block;
  p.plan_units = sched.plan_units;
  p.plan_start = sched.plan_start;
  p.plan_grid = sched.plan_grid;
  p.kv_pairs = sched.kv_pairs;
  p.num_cuts = sched.num_cuts;
  p.cuts = sched.cuts;
  p.split_ws = a.workspace;
  const int64_t grid = static_cast<int64_t>(list.num_items) * hq;
  MAGI_CHECK(grid < (int64_t{1} << 31), "FFA CUDA: grid of ", grid, " blocks is too large");
  dispatch_kernel(elem_of(q.dtype), d, v.shape[2], [&]<Elem E, int D, int Dv>() {
    launch_fwd<E, D, Dv>(p, static_cast<int>(grid), a.stream);
  });
}

void ffa_backward(const FfaBwdArgs& a) {
  const TensorView &q = a.q, &k = a.k, &v = a.v, &out = a.out, &lse = a.lse, &dout = a.dout;
  const TensorView &dq = a.dq, &dk = a.dk, &dv = a.dv;
  const int64_t sq = q.shape[0], sk = k.shape[0], hq = q.shape[1], d = q.shape[2];
  const int device = q.device.index;
  DeviceGuard guard(device);
  const cudaStream_t stream = static_cast<cudaStream_t>(a.stream);
  const DeviceWorkList& list = bwd_list(a, device);
  const BwdScratch s = bwd_scratch(a, list);
  // NOTE: before anything is written. The portable kernel runs a CTA per (item, head) and,
  // above head dim 128, per 64-key pass (traits.cuh: BwdTraits::kPasses); the Hopper one's
  // rounds number items x heads (sm90/schedule.h).
  const int64_t grid = static_cast<int64_t>(list.num_items) * hq;
  const int64_t passes =
      !s.ws_kernel && std::max(d, v.shape[2]) > kNarrowMaxHeadDim ? kBwdBlockN / kBwdPassKeys : 1;
  MAGI_CHECK(grid * passes < (int64_t{1} << 31), "FFA CUDA: ", list.num_items, " items x ", hq,
             " heads x ", passes, " passes: a grid of ", grid * passes, " blocks is too large");
  const bool overwrite = dk.dtype == q.dtype;
  // Rows no item writes read 0. Stored by the kernel, every row of an item's block is
  // written (0 for keys without cells), so a list whose blocks cover every key needs no fill.
  if (overwrite && (!s.overwrite || (s.store_direct && !list.covers_keys))) {
    fill(dk, 0.0, a.stream);
    fill(dv, 0.0, a.stream);
  }
  // dq in q's dtype likewise (no scratch: no cell); cast by the kernel, only the blocks some
  // tile touches are written.
  if (dq.dtype == q.dtype && (!s.dq_overwrite || (s.dq_cast && !list.dq_rows_covered))) {
    fill(dq, 0.0, a.stream);
  }
  if (s.bytes == 0) return;  // no cell: nothing to add
  auto* ws = static_cast<unsigned char*>(a.workspace);
  TensorView dq_acc = dq;
  if (s.dq_overwrite) {
    // Cast by the kernel: head-major [Hq, Sq, D] memory seen as [Sq, Hq, D] (its cast
    // bulk-loads a block's rows of a head as one run, sm90/bwd_ws_dq_cast.cuh); else row-major
    // (the cast after it copies contiguous memory).
    const int64_t outer = s.dq_cast ? hq : sq, inner = s.dq_cast ? sq : hq;
    dq_acc = TensorView::contiguous(ws + s.dq_offset, DType::kFloat32, {outer, inner, d}, q.device);
    fill(dq_acc, 0.0, a.stream);
    if (s.dq_cast) {
      std::swap(dq_acc.shape[0], dq_acc.shape[1]);
      std::swap(dq_acc.strides[0], dq_acc.strides[1]);
    }
  }
  TensorView dk_acc = dk, dv_acc = dv;
  if (overwrite && !s.store_direct) {
    auto* scratch = reinterpret_cast<float*>(ws + s.dkv_offset);
    dk_acc = TensorView::contiguous(scratch, DType::kFloat32, {sk, k.shape[1], d}, q.device);
    dv_acc = TensorView::contiguous(scratch + s.dk_elems, DType::kFloat32,
                                    {sk, k.shape[1], v.shape[2]}, q.device);
    fill(dk_acc, 0.0, a.stream);
    fill(dv_acc, 0.0, a.stream);
  }

  // Row statistics: D = rowsum(dO * O), row-major; for the warp-specialised Hopper backward
  // head-major together with lse * log2(e), each [Hq, stride] (TMA loads a tile's rows).
  auto* dsum = reinterpret_cast<float*>(ws);
  const BwdStats stats{dsum + hq * s.stat_stride, dsum, s.stat_stride};
  BwdPreParams pre{};
  pre.out = out.data;
  pre.dout = dout.data;
  pre.dsum = dsum;
  pre.o_row_stride = out.strides[0];
  pre.o_head_stride = out.strides[1];
  pre.do_row_stride = dout.strides[0];
  pre.do_head_stride = dout.strides[1];
  pre.total_q = static_cast<int32_t>(sq);
  pre.num_heads_q = static_cast<int32_t>(hq);
  pre.head_dim = static_cast<int32_t>(v.shape[2]);  // out's and dout's
  pre.out_dtype = out.dtype == DType::kBFloat16 ? 0 : out.dtype == DType::kFloat16 ? 1 : 2;
  pre.dout_dtype = dout.dtype == DType::kBFloat16 ? 0 : 1;
  if (s.ws_kernel) {
    pre.lse2 = const_cast<float*>(stats.lse2);
    pre.lse = lse.ptr<float>();
    pre.lse_row_stride = lse.strides[0];
    pre.lse_head_stride = lse.strides[1];
    pre.stat_stride = s.stat_stride;
  }
  if (s.dq_cast) {
    pre.dq_adds = list.dq_adds;
    pre.dq_left = reinterpret_cast<int*>(ws + s.dq_left_offset);
    pre.cast_queue = pre.dq_left + s.dq_blocks;
    pre.cast_ends = pre.cast_queue + s.dq_blocks;
  }
  launch_bwd_preprocess(pre, stream);

  const Scores sc = scores_of(a.scores);
  BwdParams p{};
  set_inputs(p, q, k, v, lse, sc);
  p.scale = sc.scale;
  p.dout = dout.data;
  p.dsum = dsum;
  p.dq = dq_acc.ptr<float>();
  p.dkv_store = s.store_direct ? 1 : 0;
  p.pack_heads = s.pack;
  p.dk = s.store_direct ? nullptr : static_cast<float*>(dk_acc.data);
  p.dv = s.store_direct ? nullptr : static_cast<float*>(dv_acc.data);
  p.dk_store = s.store_direct ? dk.data : nullptr;
  p.dv_store = s.store_direct ? dv.data : nullptr;
  p.do_row_stride = dout.strides[0];
  p.do_head_stride = dout.strides[1];
  p.dq_row_stride = dq_acc.strides[0];
  p.dq_head_stride = dq_acc.strides[1];
  if (s.dq_cast) {
    p.dq_store = dq.data;
    p.dq_store_row_stride = dq.strides[0];
    p.dq_store_head_stride = dq.strides[1];
    p.dq_left = pre.dq_left;
    p.cast_queue = pre.cast_queue;
    p.cast_ends = pre.cast_ends;
    p.cast_total = static_cast<int32_t>(list.dq_blocks_added * hq);
  }
  p.dk_row_stride = dk_acc.strides[0];
  p.dk_head_stride = dk_acc.strides[1];
  p.dv_row_stride = dv_acc.strides[0];
  p.dv_head_stride = dv_acc.strides[1];
  p.items = list.items;
  p.segs = list.segs;
  p.num_items = list.num_items;
  if (a.deterministic) {
    auto* turns = reinterpret_cast<int*>(ws + s.turns_offset);
    MAGI_CUDA_CHECK(
        cudaMemsetAsync(turns, 0, (s.dq_turns + s.dkv_turns) * sizeof(int32_t), stream));
    p.deterministic = 1;
    p.row_turns = list.row_turns;
    p.dq_turn = turns;
    p.dkv_turn = turns + s.dq_turns;
  }
  p.plan_start = s.plan.start;
  p.plan_tiles = s.plan.tiles;
  if (s.plan.num_cuts > 0) {  // the list extended by the pieces (p.num_items: the list's own)
    p.items = s.plan.items;
    p.segs = s.plan.segs;
    p.cuts = s.plan.cuts;
    p.num_cuts = s.plan.num_cuts;
    p.cut_partials = s.store_direct ? reinterpret_cast<float*>(ws + s.cut_offset) : nullptr;
  }
  dispatch_kernel(elem_of(q.dtype), d, v.shape[2], [&]<Elem E, int D, int Dv>() {
    launch_bwd<E, D, Dv>(p, s.ws_kernel ? &stats : nullptr, static_cast<int>(grid), a.stream);
  });
  if (overwrite && !s.store_direct) {
    copy_cast(dk_acc, dk, a.stream);
    copy_cast(dv_acc, dv, a.stream);
  }
  if (s.dq_overwrite && !s.dq_cast) copy_cast(dq_acc, dq, a.stream);
}

}  // namespace magi::cuda
