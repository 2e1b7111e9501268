// Distributed attention, the C++ face of the seed's API: keys, dispatch, calc_attn (forward and
// backward), undispatch. Framework-free: tensors are TensorViews the caller allocates.
//
// Typical use on each rank (same calls, same order on every rank of the group):
//   auto rt = magi::make_flex_key(slices, S, S, hq, hkv, hd, comm, config);
//   magi::dispatch(*rt, x_global, x_local);          // x_local: [rt->shard_seqlen(), ...]
//   magi::calc_attn(*rt, comm, q, k, v, opts, out, lse);
//   magi::undispatch(*rt, comm, out, out_global);    // out_global: [S, ...] (padding dropped)
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "magi/comm.h"
#include "magi/config.h"
#include "magi/ffa.h"
#include "magi/hier_plan.h"
#include "magi/mask.h"
#include "magi/plan.h"
#include "magi/tensor.h"
#include "magi/workspace.h"

namespace magi {

namespace runtime {
struct RankWork;  // src/runtime/rank_work.h
}

/// What identifies a distributed attention setup. Equal keys share one runtime. Head counts and
/// head_dim take no part in planning: 0 means "not given" (any value is accepted per call);
/// given ones are checked by every call.
struct DistAttnKey {
  std::vector<AttnSlice> slices;  // the caller's mask, before padding
  int64_t total_seqlen_q = 0;     // before padding
  int64_t total_seqlen_k = 0;
  int64_t num_heads_q = 0;   // 0: not given
  int64_t num_heads_kv = 0;  // 0: not given
  int64_t head_dim = 0;      // 0: not given
  int64_t chunk_size = 0;    // resolved
  int64_t pad_size = 0;      // 0 with config.dispatch_config.uneven_shard
  /// false: cross-attention (q and K/V are different sequences, dispatched separately; k
  /// ranges index K/V's sequence). Self-attention: the kv chunk size and pad equal q's.
  bool is_same_source = true;
  int64_t chunk_size_kv = 0;
  int64_t pad_size_kv = 0;  // 0 with config.dispatch_config.uneven_shard
  DistAttnConfig config{};
  std::string group;  // Communicator::group_id()
  int64_t cp_size = 0;
  int64_t cp_rank = 0;
  /// Keys made by make_flex_key_for_new_mask_after_dispatch: the reused dispatch's partitions
  /// (q's, then K/V's in cross-attention; empty: the dispatch is solved from `slices`). Equal
  /// masks over different dispatches are different keys.
  std::vector<std::vector<int64_t>> reused_partitions;

  size_t hash() const;
  friend bool operator==(const DistAttnKey&, const DistAttnKey&) = default;
};

/// The immutable runtime of one key on one rank: dispatch, this rank's plan (and its
/// hierarchical form when the key's config has a hier_mesh), and the work prepared from them
/// once (the FFA work of every stage, the range lists; their device forms are made on first use
/// per device and reused by every call).
class DistAttnRuntime {
 public:
  /// `plan` and `hier` (if any) hold this rank only (ranks.front()).
  DistAttnRuntime(DistAttnKey key, Plan plan, std::optional<HierPlan> hier = std::nullopt);
  ~DistAttnRuntime();
  DistAttnRuntime(const DistAttnRuntime&) = delete;
  DistAttnRuntime& operator=(const DistAttnRuntime&) = delete;
  const DistAttnKey& key() const { return key_; }
  const Plan& plan() const { return plan_; }
  const RankPlan& rank_plan() const { return plan_.ranks.front(); }
  /// This rank's two-level group-cast, or nullptr: flat.
  const HierPlan* hier_plan() const { return hier_ ? &*hier_ : nullptr; }
  /// K|V rows this rank receives per group-cast (each pass fetches once; the backward's
  /// group-reduce sends as many partial dK|dV rows back), by level: a hierarchical key's
  /// inter-node and intra-node levels; a flat key has one level, counted as intra_rows. Bytes
  /// = rows * 2 * num_heads_kv * head_dim * the element size (K|V in the inputs' dtype, dK|dV
  /// in fp32, fp64 for fp64 inputs).
  CommVolume comm_rows() const;
  const DispatchMeta& dispatch_meta() const { return plan_.dispatch; }
  int64_t padded_seqlen() const { return plan_.dispatch.total_seqlen; }
  /// Rows of this rank's local buffer (ranks differ with uneven shards).
  int64_t shard_seqlen() const { return plan_.dispatch.shard_seqlen(key_.cp_rank); }
  /// Global token id of each local row (padding rows have ids >= total_seqlen_q).
  std::vector<int64_t> position_ids() const;
  /// The same for K/V: equal to the q ones in self-attention, K/V's own in cross-attention.
  const DispatchMeta& dispatch_meta_kv() const { return plan_.dispatch_kv; }
  int64_t padded_seqlen_kv() const { return plan_.dispatch_kv.total_seqlen; }
  /// Rows of this rank's local K/V buffer (ranks differ with uneven shards).
  int64_t shard_seqlen_kv() const { return plan_.dispatch_kv.shard_seqlen(key_.cp_rank); }
  std::vector<int64_t> position_ids_kv() const;
  /// The prepared work of this rank (internal: src/runtime/rank_work.h).
  const runtime::RankWork& work() const { return *work_; }

 private:
  DistAttnKey key_;
  Plan plan_;
  std::optional<HierPlan> hier_;
  std::unique_ptr<const runtime::RankWork> work_;
};

/// Chunk size used when none is given: ceil(total / (m * cp)), at most 512, with m =
/// MAGI_ATTENTION_MIN_CHUNKS_PER_RANK (default 8, the original's). Throws for cp_size < 1 or a
/// value of the variable that is not an integer in [1, 2^20].
int64_t default_chunk_size(int64_t total_seqlen, int64_t cp_size);

/// Cross-attention's K/V chunk size: the q chunk size, reduced to ceil(total_k / (8 * cp)) when
/// K/V is short (so its padding stays below about an eighth of a rank's share; 8 whatever
/// MAGI_ATTENTION_MIN_CHUNKS_PER_RANK says, so it follows from the key's other fields).
int64_t kv_chunk_size(int64_t chunk_size_q, int64_t total_seqlen_k, int64_t cp_size);

/// Builds (or takes from the per-group LRU cache) the runtime of a flex mask. Every rank
/// derives the same plan by itself; the one collective is a check that the ranks agree: an
/// all-gather of about 100 bytes per new key (a cached key costs no communication), raising on
/// every rank an Error naming the first difference (mask, lengths, heads, chunk size, config)
/// when they do not. MAGI_ATTENTION_CHECK_KEY_CONSISTENCY=0 skips it. Every rank of `comm`
/// must call this. num_heads_q and num_heads_kv (both or neither) and head_dim may be 0: "not
/// given", checked by no call; given ones must be >= 1 and are checked by every call.
/// chunk_size defaults to config.dispatch_config.chunk_size, then to default_chunk_size() (read
/// before the cache lookup and the ranks' agreement, so they see the size the key uses).
/// With config.dispatch_config.uneven_shard nothing is padded: ranks hold different numbers
/// of rows (shard_seqlen() per rank), and ceil(total / chunk_size) must be >= the group size.
/// Throws for bad input, naming the argument (self-attention requires total_seqlen_q ==
/// total_seqlen_k).
///
/// is_same_source = false: cross-attention. q (total_seqlen_q rows) and K/V (total_seqlen_k
/// rows) are different sequences: q ranges index q's rows, k ranges K/V's. Each is padded,
/// chunked and dispatched on its own (q by its rows' cells, K/V by its columns' cells:
/// solve_kv_dispatch, chunk size kv_chunk_size); q goes through dispatch/undispatch, K/V
/// through dispatch_kv/undispatch_kv, and each rank fetches the remote K/V rows it needs from
/// their owners (through the hierarchical exchange too, with a hier_mesh). With uneven_shard
/// neither side is padded and both are uneven: K/V's ceil(total_seqlen_k / chunk_size_kv)
/// chunks must be >= the group size as well (shard_seqlen_kv() per rank).
std::shared_ptr<const DistAttnRuntime> make_flex_key(
    std::span<const AttnSlice> slices, int64_t total_seqlen_q, int64_t total_seqlen_k,
    int64_t num_heads_q, int64_t num_heads_kv, int64_t head_dim, Communicator& comm,
    const DistAttnConfig& config = {}, std::optional<int64_t> chunk_size = std::nullopt,
    bool is_same_source = true);

/// A key for another mask over the tokens `key_for_dispatch` has dispatched (hybrid models:
/// layers with different masks over one dispatch). Only the attention is planned: the new key
/// keeps the chunk -> rank partition, lengths, padding, chunk size and dispatch config of
/// `key_for_dispatch`, so dispatched tensors (and their dispatch/undispatch/roll) serve both.
/// NOTE: as in the original, the partition is not re-balanced for the new mask (its load may be
/// uneven). `slices` lie in [0, total_seqlen_q) (before padding); heads and head_dim (0: not
/// given) and the overlap config default to those of key_for_dispatch. Cached like
/// make_flex_key; every rank of `comm` must call it (same agreement check).
std::shared_ptr<const DistAttnRuntime> make_flex_key_for_new_mask_after_dispatch(
    std::span<const AttnSlice> slices, const DistAttnRuntime& key_for_dispatch, Communicator& comm,
    std::optional<int64_t> num_heads_q = std::nullopt,
    std::optional<int64_t> num_heads_kv = std::nullopt,
    std::optional<int64_t> head_dim = std::nullopt,
    const std::optional<OverlapConfig>& overlap_config = std::nullopt);

/// Varlen masks from cumulative sequence lengths: one slice per sequence, FULL or CAUSAL, or a
/// sliding window (window_left, window_right; -1 = unbounded) expressed exactly with
/// CAUSAL / BICAUSAL / INVCAUSAL / FULL slices.
///
/// Per sequence, with relative row i < Sq, column j < Sk and the bottom-right shift d = Sk - Sq,
/// the window holds the cells with d - window_left <= j - i <= d + window_right (an unbounded
/// side drops its inequality; `causal` means window_right = 0). `global_window` = G > 0 (only
/// with a window: (window_left, window_right) as given must not be (-1, -1)) adds the
/// sequence's first min(G, Sk) keys under the window's upper bound alone: j < G and j - i <= d +
/// window_right (every row sees all of them when window_right = -1). The window over keys [G, Sk)
/// and that global block become at most 3 + 2 disjoint slices.
std::vector<AttnSlice> varlen_slices(std::span<const int64_t> cu_seqlens_q,
                                     std::span<const int64_t> cu_seqlens_k, bool causal,
                                     int64_t window_left = -1, int64_t window_right = -1,
                                     int64_t global_window = 0);

/// make_flex_key over varlen_slices(cu_seqlens_q, cu_seqlens_k, causal, window...).
std::shared_ptr<const DistAttnRuntime> make_varlen_key(
    std::span<const int64_t> cu_seqlens_q, std::span<const int64_t> cu_seqlens_k, bool causal,
    int64_t window_left, int64_t window_right, int64_t num_heads_q, int64_t num_heads_kv,
    int64_t head_dim, Communicator& comm, const DistAttnConfig& config = {},
    std::optional<int64_t> chunk_size = std::nullopt);

/// cu_seqlens of `batch` sequences of `seqlen` tokens each: {0, seqlen, 2 seqlen, ...}. With a
/// batch squashed into one sequence of batch * seqlen rows (row-major [batch, seqlen, ...]
/// tensors already are), this turns batched full attention into a varlen mask.
std::vector<int64_t> full_attention_to_varlen_attention(int64_t batch, int64_t seqlen);

/// Empties the key cache of every group (tests; the Python clear_cache()).
void clear_key_cache();
/// Number of cached runtimes over all groups.
size_t key_cache_size();

/// x_local = this rank's rows of x_global ([total_seqlen_q, ...] before padding), padding rows
/// set to pad_value. Local, no communication. x_local: [shard_seqlen, ...], same dtype.
/// CUDA tensors run on `cuda_stream` (a cudaStream_t; nullptr: the default stream).
void dispatch(const DistAttnRuntime& rt, const TensorView& x_global, const TensorView& x_local,
              double pad_value = 0.0, void* cuda_stream = nullptr);

/// x_global = all ranks' x_local gathered, un-permuted, padding removed: [total_seqlen_q, ...].
/// Each rank sends its own shard_seqlen() rows (an all-gather with per-rank counts).
/// The all-gather's buffers come from `allocator` (nullptr: default_allocator()).
void undispatch(const DistAttnRuntime& rt, Communicator& comm, const TensorView& x_local,
                const TensorView& x_global, void* cuda_stream = nullptr,
                Allocator* allocator = nullptr);

/// dispatch / undispatch of K/V-side tensors (k, v, dk, dv): [total_seqlen_k, ...] globally,
/// [shard_seqlen_kv(), ...] locally. The same as dispatch / undispatch in self-attention.
void dispatch_kv(const DistAttnRuntime& rt, const TensorView& x_global, const TensorView& x_local,
                 double pad_value = 0.0, void* cuda_stream = nullptr);
void undispatch_kv(const DistAttnRuntime& rt, Communicator& comm, const TensorView& x_local,
                   const TensorView& x_global, void* cuda_stream = nullptr,
                   Allocator* allocator = nullptr);

/// out_local = this rank's rows of the global (padded) sequence rolled by `shift` along the
/// sequence: global row p of the result is global row (p - shift) mod padded_seqlen of x (as
/// torch.roll on the undispatched, padded tensor). x_local and out_local: [shard, ...], same
/// dtype and shape. Collective (one all_to_all_v; buffers from `allocator`). roll by -shift is its
/// adjoint (and inverse), so the backward of a roll is the opposite roll.
void roll(const DistAttnRuntime& rt, Communicator& comm, const TensorView& x_local, int64_t shift,
          const TensorView& out_local, void* cuda_stream = nullptr, Allocator* allocator = nullptr);

/// Forward over local q [shard, Hq, D], k [shard_kv, Hkv, D], v [shard_kv, Hkv, Dv] (shard_kv =
/// shard_seqlen_kv(); = shard in self-attention; Dv may differ from D as in ffa.h): out
/// [shard, Hq, Dv] (any float dtype), lse [shard, Hq] fp32. Hq % Hkv == 0, and the key's head
/// counts and head_dim (q's and k's) where it has them. Options as in ffa.h (one scale rule;
/// opts.allocator supplies the call's one block of scratch memory). opts.sink: the attention
/// sink (ffa.h AttnSink), counted once per row over all stages and ranks (merged after every
/// other merge): layout kSH [num_sink, Hq] (the same logits on every rank) or kSSH [shard,
/// num_sink, Hq] (per local row, i.e. the dispatched rows; dispatch a global [S, num_sink, Hq]
/// tensor to get it). opts.max_logits
/// (fp32 [Hq]) is overwritten with each head's largest score over every stage and rank, the
/// same on every rank; collective: every rank of the group passes one or none.
void calc_attn(const DistAttnRuntime& rt, Communicator& comm, const TensorView& q,
               const TensorView& k, const TensorView& v, const FfaOptions& opts,
               const TensorView& out, const TensorView& lse);

/// Backward from the forward's out and lse: writes dq, dk, dv (any float dtype, overwritten);
/// gradients of remote K/V are summed back to their owners. With opts.sink (the forward's),
/// dsink (fp32, the logits' shape; a default TensorView: not wanted) is overwritten with the
/// sink's gradient over this rank's rows; for layout kSH, MAGI_ATTENTION_DSINK_ALL_REDUCE_OP
/// = none (default) leaves it partial (sum it over the group for the full gradient), sum / avg
/// all-reduce it over the group inside this call (then every rank must pass a dsink).
void calc_attn_backward(const DistAttnRuntime& rt, Communicator& comm, const TensorView& q,
                        const TensorView& k, const TensorView& v, const TensorView& out,
                        const TensorView& lse, const TensorView& dout, const FfaOptions& opts,
                        const TensorView& dq, const TensorView& dk, const TensorView& dv,
                        const TensorView& dsink = {});

}  // namespace magi
