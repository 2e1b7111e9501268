// make_flex_key_for_new_mask_after_dispatch: a key that plans a new mask over the dispatch of
// an existing key (no dispatch is solved).
#include <optional>

#include "api/key_agreement.h"
#include "api/key_cache.h"
#include "api/plan_runtime.h"
#include "magi/check.h"
#include "magi/dist_attn.h"

namespace magi {
namespace {

/// The new key: the reference key with the new mask, heads and overlap config. Throws for bad
/// input, naming it.
DistAttnKey new_mask_key(std::span<const AttnSlice> slices, const DistAttnRuntime& ref,
                         const Communicator& comm, std::optional<int64_t> num_heads_q,
                         std::optional<int64_t> num_heads_kv, std::optional<int64_t> head_dim,
                         const std::optional<OverlapConfig>& overlap_config) {
  const DistAttnKey& r = ref.key();
  MAGI_CHECK(comm.rank() == r.cp_rank && comm.group_id() == r.group,
             "key_for_dispatch: made for rank ", r.cp_rank, " of group '", r.group,
             "', not for rank ", comm.rank(), " of group '", comm.group_id(), "'");
  DistAttnKey key = r;  // lengths, padding, chunk size, group and dispatch config
  key.slices.assign(slices.begin(), slices.end());
  key.num_heads_q = num_heads_q.value_or(r.num_heads_q);
  key.num_heads_kv = num_heads_kv.value_or(r.num_heads_kv);
  key.head_dim = head_dim.value_or(r.head_dim);
  if (overlap_config) key.config.overlap_config = *overlap_config;
  key.reused_partitions = ref.dispatch_meta().partitions;
  if (!r.is_same_source) {  // K/V's own dispatch is reused too
    const auto& kv = ref.dispatch_meta_kv().partitions;
    key.reused_partitions.insert(key.reused_partitions.end(), kv.begin(), kv.end());
  }

  MAGI_CHECK((key.num_heads_q == 0) == (key.num_heads_kv == 0), "num_heads_q = ", key.num_heads_q,
             ", num_heads_kv = ", key.num_heads_kv, ": give both (>= 1) or neither (0)");
  MAGI_CHECK(key.num_heads_q >= 0 && key.num_heads_kv >= 0, "num_heads_q = ", key.num_heads_q,
             ", num_heads_kv = ", key.num_heads_kv, ": must be >= 1 (or 0: not given)");
  MAGI_CHECK(key.num_heads_kv == 0 || key.num_heads_q % key.num_heads_kv == 0,
             "num_heads_q = ", key.num_heads_q,
             " is not a multiple of num_heads_kv = ", key.num_heads_kv);
  MAGI_CHECK(key.head_dim >= 0, "head_dim = ", key.head_dim, ": must be >= 1 (or 0: not given)");
  key.config.validate();
  // NOTE: the new mask lives on the caller's (unpadded) rows, like make_flex_key's; padding
  // rows keep no slice.
  check_slices(slices, r.total_seqlen_q, r.total_seqlen_k);
  return key;
}

}  // namespace

std::shared_ptr<const DistAttnRuntime> make_flex_key_for_new_mask_after_dispatch(
    std::span<const AttnSlice> slices, const DistAttnRuntime& key_for_dispatch, Communicator& comm,
    std::optional<int64_t> num_heads_q, std::optional<int64_t> num_heads_kv,
    std::optional<int64_t> head_dim, const std::optional<OverlapConfig>& overlap_config) {
  // As make_flex_key: a cached key costs no communication; a bad request reaches the
  // agreement check on every rank before any rank raises.
  try {
    if (auto hit = api::cache_find(new_mask_key(slices, key_for_dispatch, comm, num_heads_q,
                                                num_heads_kv, head_dim, overlap_config))) {
      return hit;
    }
  } catch (const Error&) {
  }
  const DistAttnKey& r = key_for_dispatch.key();
  DistAttnConfig requested = r.config;
  if (overlap_config) requested.overlap_config = *overlap_config;
  api::check_key_agreement(
      {slices, r.total_seqlen_q, r.total_seqlen_k, num_heads_q.value_or(r.num_heads_q),
       num_heads_kv.value_or(r.num_heads_kv), head_dim.value_or(r.head_dim), r.chunk_size,
       &requested, r.is_same_source},
      comm);
  DistAttnKey key = new_mask_key(slices, key_for_dispatch, comm, num_heads_q, num_heads_kv,
                                 head_dim, overlap_config);
  // Only the attention is planned: the reference key's dispatch places the chunks.
  auto rt = api::plan_runtime(std::move(key), slices, key_for_dispatch.dispatch_meta(),
                              key_for_dispatch.dispatch_meta_kv());
  api::cache_insert(rt);
  return rt;
}

}  // namespace magi
