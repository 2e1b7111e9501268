// Key creation: validate, resolve chunk size and padding, dispatch, plan this rank; cached.
#include <algorithm>
#include <functional>
#include <limits>

#include "api/key_agreement.h"
#include "api/key_cache.h"
#include "api/plan_runtime.h"
#include "common/ceil_div.h"
#include "common/env.h"
#include "magi/check.h"
#include "magi/dist_attn.h"
#include "runtime/rank_work.h"

namespace magi {
namespace {

void mix(size_t& h, size_t v) { h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2); }

/// The key of a request: validates every argument (throws naming the bad one).
DistAttnKey make_key(std::span<const AttnSlice> slices, int64_t total_seqlen_q,
                     int64_t total_seqlen_k, int64_t num_heads_q, int64_t num_heads_kv,
                     int64_t head_dim, const Communicator& comm, const DistAttnConfig& config,
                     std::optional<int64_t> chunk_size, bool is_same_source) {
  MAGI_CHECK(total_seqlen_q >= 1, "total_seqlen_q = ", total_seqlen_q, ": must be >= 1");
  MAGI_CHECK(total_seqlen_k >= 1, "total_seqlen_k = ", total_seqlen_k, ": must be >= 1");
  MAGI_CHECK(!is_same_source || total_seqlen_q == total_seqlen_k,
             "total_seqlen_q = ", total_seqlen_q, " and total_seqlen_k = ", total_seqlen_k,
             ": self-attention needs equal totals (q and k are dispatched together; "
             "is_same_source = false for cross-attention)");
  // Heads are optional (0: not given) and take no part in planning.
  MAGI_CHECK((num_heads_q == 0) == (num_heads_kv == 0), "num_heads_q = ", num_heads_q,
             ", num_heads_kv = ", num_heads_kv, ": give both (>= 1) or neither (0)");
  MAGI_CHECK(num_heads_q >= 0, "num_heads_q = ", num_heads_q, ": must be >= 1 (or 0: not given)");
  MAGI_CHECK(num_heads_kv >= 0, "num_heads_kv = ", num_heads_kv,
             ": must be >= 1 (or 0: not given)");
  MAGI_CHECK(num_heads_kv == 0 || num_heads_q % num_heads_kv == 0, "num_heads_q = ", num_heads_q,
             " is not a multiple of num_heads_kv = ", num_heads_kv);
  MAGI_CHECK(head_dim >= 0, "head_dim = ", head_dim, ": must be >= 1 (or 0: not given)");
  config.validate();
  check_slices(slices, total_seqlen_q, total_seqlen_k);
  const int64_t cp = comm.size();
  MAGI_CHECK(cp >= 1, "cp_size = ", cp, ": must be >= 1");
  if (config.hier_mesh) config.hier_mesh->validate(cp);

  const auto given = chunk_size ? chunk_size : config.dispatch_config.chunk_size;
  MAGI_CHECK(!given || *given >= 1, "chunk_size = ", given.value_or(0), ": must be >= 1");
  DistAttnKey key;
  key.slices.assign(slices.begin(), slices.end());
  key.total_seqlen_q = total_seqlen_q;
  key.total_seqlen_k = total_seqlen_k;
  key.num_heads_q = num_heads_q;
  key.num_heads_kv = num_heads_kv;
  key.head_dim = head_dim;
  key.chunk_size = given.value_or(default_chunk_size(total_seqlen_q, cp));
  const bool uneven = config.dispatch_config.uneven_shard;
  const int64_t unit = std::max<int64_t>(head_dim, 1);
  key.pad_size = uneven ? 0 : compute_pad_size(total_seqlen_q, cp, unit, key.chunk_size);
  key.is_same_source = is_same_source;
  key.chunk_size_kv =
      is_same_source ? key.chunk_size : kv_chunk_size(key.chunk_size, total_seqlen_k, cp);
  key.pad_size_kv = is_same_source || uneven
                        ? key.pad_size
                        : compute_pad_size(total_seqlen_k, cp, unit, key.chunk_size_kv);
  MAGI_CHECK(key.pad_size <= std::numeric_limits<int64_t>::max() - total_seqlen_q &&
                 key.pad_size_kv <= std::numeric_limits<int64_t>::max() - total_seqlen_k,
             "total_seqlen_q = ", total_seqlen_q, ", total_seqlen_k = ", total_seqlen_k,
             ": padded to a multiple of chunk_size * cp_size = ", key.chunk_size, " * ", cp,
             ", the length overflows int64");
  // NOTE: K/V's own dispatch is uneven when q's is; solve_dispatch checks its chunk count too,
  // but only here does the error say that the K/V sequence is the short one.
  MAGI_CHECK(is_same_source || !uneven ||
                 (total_seqlen_k + key.chunk_size_kv - 1) / key.chunk_size_kv >= cp,
             "total_seqlen_k = ", total_seqlen_k,
             ": uneven shards of cross-attention's K/V need at least cp_size = ", cp,
             " K/V chunks of chunk_size_kv = ", key.chunk_size_kv,
             " (a rank would hold no K/V token)");
  key.config = config;
  key.group = comm.group_id();
  key.cp_size = cp;
  key.cp_rank = comm.rank();
  return key;
}

/// The cached runtime of this request, or nullptr (also for a request make_key would refuse:
/// the caller then reaches the agreement check and the error after it on every rank).
std::shared_ptr<const DistAttnRuntime> find_cached(
    std::span<const AttnSlice> slices, int64_t total_seqlen_q, int64_t total_seqlen_k,
    int64_t num_heads_q, int64_t num_heads_kv, int64_t head_dim, const Communicator& comm,
    const DistAttnConfig& config, std::optional<int64_t> chunk_size, bool is_same_source) {
  try {
    return api::cache_find(make_key(slices, total_seqlen_q, total_seqlen_k, num_heads_q,
                                    num_heads_kv, head_dim, comm, config, chunk_size,
                                    is_same_source));
  } catch (const Error&) {
    return nullptr;
  }
}

}  // namespace

size_t DistAttnKey::hash() const {
  size_t h = std::hash<std::string>()(group);
  for (const AttnSlice& s : slices) {
    mix(h, std::hash<int64_t>()(s.q.start) * 3 + std::hash<int64_t>()(s.q.end));
    mix(h, std::hash<int64_t>()(s.k.start) * 5 + std::hash<int64_t>()(s.k.end));
    mix(h, static_cast<size_t>(s.type));
  }
  for (int64_t v :
       {total_seqlen_q, total_seqlen_k, num_heads_q, num_heads_kv, head_dim, chunk_size, pad_size,
        int64_t{is_same_source}, chunk_size_kv, pad_size_kv, cp_size, cp_rank}) {
    mix(h, std::hash<int64_t>()(v));
  }
  const OverlapConfig& o = config.overlap_config;
  mix(h, std::hash<int64_t>()(o.degree.value_or(-1)));
  if (config.hier_mesh) {
    mix(h, std::hash<int64_t>()(config.hier_mesh->inter));
    mix(h, std::hash<int64_t>()(config.hier_mesh->intra));
  }
  mix(h, static_cast<size_t>(config.dispatch_config.alg.type));
  mix(h, static_cast<size_t>(config.dispatch_config.uneven_shard));
  for (const std::vector<int64_t>& p : reused_partitions) {
    for (int64_t c : p) mix(h, std::hash<int64_t>()(c));
    mix(h, p.size());
  }
  return h;
}

namespace {

/// `plan` if it is this key's rank's plan (make_rank_plan of its rank over its cp size), else
/// an error: the runtime would run another rank's work.
Plan plan_of_key(Plan plan, const DistAttnKey& key) {
  MAGI_CHECK(plan.ranks.size() == 1 && plan.ranks[0].rank == key.cp_rank &&
                 plan.dispatch.cp_size == key.cp_size && plan.dispatch_kv.cp_size == key.cp_size,
             "DistAttnRuntime: the plan holds ", plan.ranks.size(), " rank plan(s)",
             plan.ranks.empty() ? "" : ", the first of rank ",
             plan.ranks.empty() ? int64_t{-1} : plan.ranks[0].rank, ", over cp_size ",
             plan.dispatch.cp_size, "; the key is rank ", key.cp_rank, " of cp_size ", key.cp_size,
             " (pass make_rank_plan(..., rank) of the key's rank)");
  return plan;
}

}  // namespace

DistAttnRuntime::DistAttnRuntime(DistAttnKey key, Plan plan, std::optional<HierPlan> hier)
    : key_(std::move(key)),
      plan_(plan_of_key(std::move(plan), key_)),
      hier_(std::move(hier)),
      work_(std::make_unique<const runtime::RankWork>(plan_, hier_plan(), key_.total_seqlen_q,
                                                      key_.total_seqlen_k)) {}

CommVolume DistAttnRuntime::comm_rows() const {
  return hier_ ? hier_->volume() : CommVolume{0, rank_plan().num_recv()};
}

DistAttnRuntime::~DistAttnRuntime() = default;

std::vector<int64_t> DistAttnRuntime::position_ids() const {
  return plan_.dispatch.position_ids(key_.cp_rank);
}

std::vector<int64_t> DistAttnRuntime::position_ids_kv() const {
  return plan_.dispatch_kv.position_ids(key_.cp_rank);
}

namespace {

/// ceil(total / (chunks_per_rank * cp)), at least 1 and at most 512 tokens.
int64_t chunk_for(int64_t total_seqlen, int64_t cp_size, int64_t chunks_per_rank) {
  MAGI_CHECK(cp_size >= 1, "cp_size = ", cp_size, ": must be >= 1");
  return std::clamp<int64_t>(ceil_div(total_seqlen, chunks_per_rank * cp_size), 1, 512);
}

}  // namespace

int64_t default_chunk_size(int64_t total_seqlen, int64_t cp_size) {
  return chunk_for(total_seqlen, cp_size,
                   env::integer("MAGI_ATTENTION_MIN_CHUNKS_PER_RANK", 1, int64_t{1} << 20));
}

int64_t kv_chunk_size(int64_t chunk_size_q, int64_t total_seqlen_k, int64_t cp_size) {
  // NOTE: 8 chunks per rank whatever MAGI_ATTENTION_MIN_CHUNKS_PER_RANK says: the K/V chunk
  // follows from what the ranks' agreement and the key caches compare (q's chunk size and the
  // lengths), so it cannot differ between ranks or go stale in a cache.
  return std::min(chunk_size_q, chunk_for(total_seqlen_k, cp_size, 8));
}

std::shared_ptr<const DistAttnRuntime> make_flex_key(
    std::span<const AttnSlice> slices, int64_t total_seqlen_q, int64_t total_seqlen_k,
    int64_t num_heads_q, int64_t num_heads_kv, int64_t head_dim, Communicator& comm,
    const DistAttnConfig& config, std::optional<int64_t> chunk_size, bool is_same_source) {
  // The default chunk size is resolved first: it reads MAGI_ATTENTION_MIN_CHUNKS_PER_RANK, and
  // the ranks' agreement must compare the size each rank will use. NOTE: a value that does not
  // parse (or a bad group size) leaves it unresolved here, so that every rank still reaches the
  // agreement's collective (make_key then raises the error).
  if (!chunk_size) chunk_size = config.dispatch_config.chunk_size;
  if (!chunk_size) {
    try {
      chunk_size = default_chunk_size(total_seqlen_q, comm.size());
    } catch (const Error&) {
    }
  }
  // A key this rank has made before returns without any communication. (Every rank makes the
  // same key calls in the same order, so the ranks agree on what is cached.)
  if (auto hit = find_cached(slices, total_seqlen_q, total_seqlen_k, num_heads_q, num_heads_kv,
                             head_dim, comm, config, chunk_size, is_same_source)) {
    return hit;
  }
  // A new key: one collective checks that the ranks ask for the same one. NOTE: before any
  // local validation, so ranks that disagree all reach the collective.
  api::check_key_agreement({slices, total_seqlen_q, total_seqlen_k, num_heads_q, num_heads_kv,
                            head_dim, chunk_size, &config, is_same_source},
                           comm);
  DistAttnKey key = make_key(slices, total_seqlen_q, total_seqlen_k, num_heads_q, num_heads_kv,
                             head_dim, comm, config, chunk_size, is_same_source);
  // Padding rows have no slice: they attend to nothing and nothing attends to them.
  const int64_t total = total_seqlen_q + key.pad_size;
  const DispatchConfig& dc = config.dispatch_config;
  const DispatchMeta d =
      solve_dispatch(slices, total, key.chunk_size, key.cp_size, dc.alg, dc.uneven_shard);
  // Cross-attention: K/V's own dispatch (uneven when q's is).
  const DispatchMeta d_kv =
      key.is_same_source
          ? d
          : solve_kv_dispatch(slices, total_seqlen_k + key.pad_size_kv, key.chunk_size_kv,
                              key.cp_size, dc.alg, dc.uneven_shard);
  auto rt = api::plan_runtime(std::move(key), slices, d, d_kv);
  api::cache_insert(rt);
  return rt;
}

}  // namespace magi
