// The per-head-dim tile table of the FFA kernels: the one place where a head dim is added.
// Read by the kernels' traits (sm90/fwd_traits.cuh), by the host dispatch (ffa_cuda.cc, through
// the generated inst/head_dims.h) and by tools/gen_ffa_cuda_inst.py, which parses the rows
// between the BEGIN and END markers (one brace-enclosed row per line).
#pragma once

// NOTE: development filter for trying tile widths without editing the table (pass through
// -DMAGI_CUDA_EXTRA_FLAGS; tools/device_variants.sh). The defaults are the shipped config.
#ifndef MAGI_FFA_HD64_FWD_BLOCK_N
#define MAGI_FFA_HD64_FWD_BLOCK_N 192
#endif
#ifndef MAGI_FFA_HD64_FWD_WIDE_BLOCK_N
#define MAGI_FFA_HD64_FWD_WIDE_BLOCK_N 128
#endif
#ifndef MAGI_FFA_HD64_FWD_STAGES
#define MAGI_FFA_HD64_FWD_STAGES 2
#endif
#ifndef MAGI_FFA_HD128_FWD_BLOCK_N
#define MAGI_FFA_HD128_FWD_BLOCK_N 176
#endif
// hd 128 forward on 192-row items: a third less K / V traffic per cell. Three consumer
// warpgroups at 160 registers hold O beside S and P of two tiles up to 80 keys (96 spills);
// above, the consumers run each tile's products in turn (sm90/fwd_traits.cuh: kOverlap). 128
// (sequential): +7 % FLOPs per joule at 32k full, its first run (bench/NOTES.md v41), then
// 0.89-1.00x of the 128-row kernel's rate on 16 harness shapes (v44). 0: no such variant. With
// -DMAGI_FFA_FWD_WIDE_BLOCK_M=256 (launch.h) the wide variant is 256-row items on two consumer
// warpgroups of two halves (v47 item 7): 80 keys fit (0 spills; 96, with 96 added to
// tools/gen_wgmma_ptx.py, spilled 4 bytes).
#ifndef MAGI_FFA_HD128_FWD_WIDE_BLOCK_N
#define MAGI_FFA_HD128_FWD_WIDE_BLOCK_N 0
#endif
// MLA's forward (192 / 128): 0 runs q's row (112-key tiles); 128 fits beside O of 128 columns
// (one Q stage, 208 KB; bench/NOTES.md v40), to measure.
#ifndef MAGI_FFA_MLA_FWD_BLOCK_N
#define MAGI_FFA_MLA_FWD_BLOCK_N 0
#endif
// hd 256 backward: two Q stages need the dQ tile in two parts (two stages against one: +9-33 % at
// 8k; at 32k +25 % once the schedule groups MHA tiles, -12-14 % without; bench/NOTES.md v26, v27).
#ifndef MAGI_FFA_HD256_BWD_STAGES
#define MAGI_FFA_HD256_BWD_STAGES 2
#endif
// hd 64 backward: K / V of the next item load while the current one runs (bench/NOTES.md v32).
#ifndef MAGI_FFA_HD64_BWD_KV_STAGES
#define MAGI_FFA_HD64_BWD_KV_STAGES 2
#endif
#ifndef MAGI_FFA_HD256_BWD_DQ_PARTS
#define MAGI_FFA_HD256_BWD_DQ_PARTS 2
#endif
// hd 256 backward: 128-key items walked once per 128-column half of D (bwd_ws_traits.cuh:
// kDPasses) instead of twice per 64-key pass (split-D), outside the deterministic mode; +10-14 %
// on the H200 (bench/NOTES.md v36). 0 restores split-D.
#ifndef MAGI_FFA_HD256_BWD_DPASS
#define MAGI_FFA_HD256_BWD_DPASS 1
#endif

namespace magi::cuda {

struct HeadDimTiles {
  int head_dim;
  int fwd_block_n;       // Hopper forward: keys per K/V tile (the wgmma N of S = Q K^T)
  int fwd_wide_block_n;  // ... of its wide variant (kFwdWideBlockM rows, launch.h); 0: none
  int fwd_stages;        // Hopper forward: K/V ring depth
  int bwd_stages;        // Hopper backward (warp-specialised): Q (and lse, D) ring depth
  int bwd_do_stages;     // ... dO: 0, it rides the Q ring; else the depth of a ring of its own
  int bwd_dq_parts;      // ... hand-offs of a query tile's dQ to the writer (2: half a tile each)
  int bwd_kv_stages;     // ... K / V ring depth (2: the next item's load overlaps this one)
};

inline constexpr HeadDimTiles kHeadDimTiles[] = {
    // BEGIN TABLE: head_dim, fwd_block_n, fwd_wide_block_n, fwd_stages, bwd_stages,
    // bwd_do_stages, bwd_dq_parts, bwd_kv_stages
    // hd 64 forward, 192-row variant: with three consumer warpgroups two warpgroups' GEMMs cover
    // one's softmax, which takes about as long as its GEMMs at this head dim; 160 registers
    // each hold S and P of 128 keys beside O. Per cell about 8 % faster than 128 rows, but its
    // fewer, larger tiles fill the last round of a grid worse; the host picks per call
    // (sm90/fwd_rows.h).
    // hd 64 backward: a second K / V stage fits (K / V stages 64 KB, Q / dO 48 KB, dS^T 32 KB,
    // dQ 16 KB); at 128 it would not (a third Q stage does not either).
    {64, MAGI_FFA_HD64_FWD_BLOCK_N, MAGI_FFA_HD64_FWD_WIDE_BLOCK_N, MAGI_FFA_HD64_FWD_STAGES, 3, 0,
     1, MAGI_FFA_HD64_BWD_KV_STAGES},
    // hd 128 backward: 2 stages (a third no longer fits beside the dQ tile).
    {128, MAGI_FFA_HD128_FWD_BLOCK_N, MAGI_FFA_HD128_FWD_WIDE_BLOCK_N, 2, 2, 0, 1, 1},
    // Above 128: the Hopper forward's O is D / 2 fp32 registers per consumer
    // thread, so S = Q K^T narrows (112 / 80 keys) to stay within 240 registers; the backward
    // splits the head dim between its warpgroups (bwd_ws_consumer_split_d.cuh). At 256 two Q
    // stages, one dO stage and half a dQ tile fit beside K and V; dO has a ring of its own, so
    // the next tile's dO loads once dV has read it, before the tile's end.
    {192, 112, 0, 2, 2, 0, 1, 1},
    {256, 80, 0, 2, MAGI_FFA_HD256_BWD_STAGES, 1, MAGI_FFA_HD256_BWD_DQ_PARTS, 1},
    // END TABLE
};

/// Value head dims apart from q / k's (MLA: q / k 192, v 128): the pairs the CUDA kernels are
/// instantiated for, on both kernel families; the Hopper kernels take the row of q's head dim
/// above (the backward its split-D consumers, with dV's window over v's head dim:
/// sm90/bwd_ws_traits.cuh). tools/gen_ffa_cuda_inst.py parses the rows between the two PAIRS
/// markers.
struct ValueHeadDim {
  int head_dim;     // q's and k's
  int head_dim_v;   // v's, out's and dout's
  int fwd_block_n;  // Hopper forward: keys per K/V tile; 0: q's row's
};

inline constexpr ValueHeadDim kValueHeadDims[] = {
    // BEGIN PAIRS: head_dim, head_dim_v, fwd_block_n
    {192, 128, MAGI_FFA_MLA_FWD_BLOCK_N},
    // END PAIRS
};

/// The row of `head_dim` (a compile-time error in a constant expression when absent).
constexpr HeadDimTiles tiles_for(int head_dim) {
  for (const HeadDimTiles& t : kHeadDimTiles) {
    if (t.head_dim == head_dim) return t;
  }
  return HeadDimTiles{0, 0, 0, 0, 0, 0, 0, 0};
}

/// Keys per K/V tile of the Hopper forward (128-row items) at head dims (head_dim, head_dim_v):
/// the pair's own when it has one, else q's row's. The kernel's traits and the host's tile plan
/// (prepared_work.cc) both read it: a plan counts the kernel's key tiles.
constexpr int fwd_block_n(int head_dim, int head_dim_v) {
  for (const ValueHeadDim& p : kValueHeadDims) {
    if (p.head_dim == head_dim && p.head_dim_v == head_dim_v && p.fwd_block_n > 0) {
      return p.fwd_block_n;
    }
  }
  return tiles_for(head_dim).fwd_block_n;
}

/// Whether the Hopper backward walks head dim `head_dim` in passes over halves of D
/// (MAGI_FFA_HD256_BWD_DPASS; outside the deterministic mode).
constexpr bool bwd_d_passes(int head_dim) {
  return MAGI_FFA_HD256_BWD_DPASS != 0 && head_dim == 256;
}

}  // namespace magi::cuda
