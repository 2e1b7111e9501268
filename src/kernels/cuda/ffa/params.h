// Plain data shared by the host launcher and the FFA kernels (no CUDA types).
//
// The mask reaches the kernels as a work list built on the host (work_list.h):
//   forward:  one item per block of at most kBlockM consecutive query rows (blocks start at
//             slice row boundaries where they can, see work_list.h), with the segments of
//             every (disjoint) slice that touches those rows;
//   backward: one item per block of kBlockN consecutive keys, with the segments of every slice
//             that touches those keys.
// A segment is a band: cells (q, k) with q in [q0, q1), k in [k0, k1) and dlo <= k - q < dhi.
// Both ranges are already restricted to the item's block and to the band, so a kernel walks
// exactly [k0, k1) (forward) or [q0, q1) (backward) in tiles.
#pragma once

#include <cstdint>

namespace magi::cuda {

/// Diagonal bound that never binds (|k - q| < 2^31 - 2^30 for int32 token indices < 2^30).
inline constexpr int32_t kNoDiagBound = int32_t{1} << 30;

struct FfaSegment {
  int32_t q0, q1;    // query rows [q0, q1)
  int32_t k0, k1;    // keys [k0, k1)
  int32_t dlo, dhi;  // dlo <= k - q < dhi
};

struct FfaWorkItem {
  int32_t block_start;  // first query row (forward) or key (backward) of the item's block
  int32_t block_end;    // end of the block (forward: rows the item owns and writes)
  int32_t seg_begin;    // segments [seg_begin, seg_end) of the plan's segment array
  int32_t seg_end;
  int32_t cost;  // cells-ish estimate used for the longest-first order
  // Deterministic backward only (WorkList::row_turns): where this item's query tiles' turns
  // start, one per tile in the order the kernel walks them.
  int32_t turn_begin;
};

/// Output modes of the forward epilogue.
enum class FwdOutMode : int32_t {
  kStoreBf16 = 0,  // overwrite out (bf16) and lse
  kStoreFp16 = 1,  // overwrite out (fp16) and lse
  kStoreFp32 = 2,  // overwrite out (fp32) and lse
  kMergeFp32 = 3,  // merge into fp32 out / lse accumulators by log-sum-exp
};

struct FwdParams {
  const void* q;  // [Sq, Hq, D]
  const void* k;  // [Sk, Hkv, D]
  const void* v;  // [Sk, Hkv, D]
  void* out;      // [Sq, Hq, D]
  float* lse;     // [Sq, Hq]
  int64_t q_row_stride, q_head_stride;
  int64_t k_row_stride, k_head_stride;
  int64_t v_row_stride, v_head_stride;
  int64_t o_row_stride, o_head_stride;
  int64_t lse_row_stride, lse_head_stride;
  int32_t total_q, total_k;
  int32_t num_heads_q, heads_per_kv;
  // score in log2 units: no softcap: raw * scale_log2;  softcap: softcap_log2 * tanh(raw *
  // scale_cap)
  float scale_log2, scale_cap, softcap_log2;
  int32_t use_softcap;
  FwdOutMode out_mode;
  const FfaWorkItem* items;
  const FfaSegment* segs;
  int32_t num_items;
  int32_t block_m;  // rows per item of `items`: kFwdBlockM, or kFwdWideBlockM (launch.h)
  // FfaOptions::max_logits: [Hq] fp32, each head's largest score merged in by max (nullptr:
  // not wanted). OnlineSoftmax's reference max trails the row max by up to rescale_slack (log2
  // units) to save O rescales; 0 makes it the row max (to float rounding), which max_logits
  // needs unless the kernel tracks the max beside it (TrackMax: the Hopper forward without
  // softcap, whose launcher then restores the slack).
  float* max_logits;
  float rescale_slack;
  // Hopper forward: its tile plan (sm90/fwd_plan.h: kernel_form; sm90::FwdUnit plan_units,
  // [plan_grid] plan_start) for plan_grid CTAs; its num_cuts cut tiles (sm90::FwdCut) and
  // split_ws, the workspace of their pieces (sm90::fwd_split_bytes; null when none).
  const void* plan_units;
  const int32_t* plan_start;
  int32_t plan_grid;
  int32_t num_cuts;
  const void* cuts;
  void* split_ws;
  // Hopper forward: CTAs 2c and 2c + 1 of the plan walk the same key tiles of the same kv head
  // (sm90/fwd_plan.h: fwd_plan_pairs), so a cluster of the two may share each K / V load.
  int32_t kv_pairs;
};

struct BwdParams {
  const void* q;      // [Sq, Hq, D]
  const void* k;      // [Sk, Hkv, D]
  const void* v;      // [Sk, Hkv, Dv] (Dv: v's head dim, D unless a kValueHeadDims pair)
  const void* dout;   // [Sq, Hq, Dv], q's dtype
  const float* lse;   // [Sq, Hq]
  const float* dsum;  // [Sq * Hq] rowsum(dout * out), contiguous (preprocess output)
  float* dq;          // [Sq, Hq, D] fp32, added into
  float* dk;          // [Sk, Hkv, D] fp32, added into (dkv_store = 0)
  float* dv;          // [Sk, Hkv, Dv] fp32, added into (dkv_store = 0)
  void* dk_store;     // [Sk, Hkv, D] / [Sk, Hkv, Dv] in q's dtype, written (dkv_store = 1:
  void* dv_store;     //   every key row has one owner item and one query head; strides below)
  int32_t dkv_store;
  int64_t q_row_stride, q_head_stride;
  int64_t k_row_stride, k_head_stride;
  int64_t v_row_stride, v_head_stride;
  int64_t do_row_stride, do_head_stride;
  int64_t lse_row_stride, lse_head_stride;
  int64_t dq_row_stride, dq_head_stride;
  int64_t dk_row_stride, dk_head_stride;
  int64_t dv_row_stride, dv_head_stride;
  int32_t total_q, total_k;
  int32_t num_heads_q, heads_per_kv;
  float scale;  // softmax_scale (dq, dk are scaled by it at the end)
  float scale_log2, scale_cap, softcap_log2;
  int32_t use_softcap;
  const FfaWorkItem* items;
  const FfaSegment* segs;
  int32_t num_items;
  // Deterministic mode (warp-specialised Hopper backward): additions to dq, dk and dv in a
  // fixed order, from a work list built with global key blocks and row turns (work_list.h).
  int32_t deterministic;
  const int32_t* row_turns;  // WorkList::row_turns
  int* dq_turn;   // [ceil(Sq / 64) * Hq], zeroed: tiles of (row block, head) added so far
  int* dkv_turn;  // [num_items * Hkv], zeroed: query heads of (item, kv head) added so far
  // Warp-specialised Hopper backward: a host tile plan (sm90/tile_plan.h) in place of the
  // scheduler's rounds, or null. CTA c runs plan_tiles[plan_start[c] .. plan_start[c + 1]).
  const int32_t* plan_start;
  const int32_t* plan_tiles;
  // Its cut tiles (sm90/tile_plan.h: TileCuts; sm90/bwd_cut.cuh): items / segs above are
  // then the plan's list, whose items from num_items on are the pieces; with dkv_store each piece
  // stores its dK / dV to its slot of cut_partials (sm90::bwd_cut_slot_floats per piece) and a
  // second kernel adds the num_cuts cuts' slots (sm90::BwdCut) and stores.
  const void* cuts;
  float* cut_partials;
  int32_t num_cuts;
  // Warp-specialised Hopper backward: the query heads a tile walks in turn, K / V loaded once
  // and dK / dV summed over them: 1, or heads_per_kv (one writer per dK / dV row, stored in
  // 16 bits; no cut tiles, not deterministic: ffa_cuda.cc, bench/NOTES.md v55-v56) where the
  // kernel can (MAGI_FFA_BWD_PACK_HEADS, sm90::BwdWsTraits::kPackHeads). 1 elsewhere.
  int32_t pack_heads;
  // Warp-specialised Hopper backward where sm90::bwd_casts_dq: dq in q's dtype, written
  // (strides below), each (64-row block, query head) of the fp32 dq above cast once its
  // additions are complete (sm90/bwd_ws_dq_cast.cuh); null: dq is left in fp32.
  void* dq_store;
  int64_t dq_store_row_stride, dq_store_head_stride;
  // [ceil(Sq / 64) * Hq], with dq_store: the additions each (block, head) still waits for (set
  // from dq_adds by the preprocess, BwdPreParams).
  int* dq_left;
  // With dq_store: the completed blocks (block * Hq + head + 1, in the order of completion;
  // zeroed by the preprocess, as far as cast_total) and cast_ends[0] pushed so far, [1]
  // claimed so far (zeroed); cast_total: the blocks that get additions (all are cast).
  int* cast_queue;
  int* cast_ends;
  int32_t cast_total;
};

// Whether the Hopper backward can walk several query heads a tile (BwdParams::pack_heads); 0
// builds the kernels of before packing (bench/NOTES.md v55-v56), for comparisons.
#ifndef MAGI_FFA_BWD_PACK_HEADS
#define MAGI_FFA_BWD_PACK_HEADS 1
#endif

/// Head-major row statistics for the warp-specialised Hopper backward (TMA-loaded per tile):
/// lse2[h * stride + r] = lse[r, h] * log2(e) (+inf for a row without cells), dsum likewise.
struct BwdStats {
  const float* lse2;
  const float* dsum;
  int64_t stride;  // >= total_q, a multiple of 4 (16-byte rows for TMA)
};

/// Inputs of the backward preprocess: D[r, h] = sum_d dout[r, h, d] * out[r, h, d], written to
/// dsum[r * Hq + h]; or, with lse2 set, head-major to dsum[h * stat_stride + r] together with
/// lse2 (BwdStats).
struct BwdPreParams {
  const void* out;
  const void* dout;
  float* dsum;
  int64_t o_row_stride, o_head_stride;
  int64_t do_row_stride, do_head_stride;
  int32_t total_q, num_heads_q, head_dim;
  int32_t out_dtype;   // 0 bf16, 1 fp16, 2 fp32
  int32_t dout_dtype;  // 0 bf16, 1 fp16
  float* lse2;         // nullptr: row-major dsum only
  const float* lse;    // [Sq, Hq] (with lse2)
  int64_t lse_row_stride, lse_head_stride;
  int64_t stat_stride;
  // With dq_left: dq_left[b * Hq + h] = dq_adds[b] for each block b of 64 rows (the Hopper
  // backward's dQ cast, BwdParams::dq_left; sm90/dq_cast.h: dq_block_adds).
  const int32_t* dq_adds;
  int* dq_left;
  int* cast_queue;  // with dq_left: zeroed like it (BwdParams::cast_queue)
  int* cast_ends;   // with dq_left: both zeroed
};

}  // namespace magi::cuda
