// Configs mirroring the seed's DistAttnConfig / DispatchConfig / OverlapConfig. Every config is
// a plain value, comparable, and part of the key. validate() holds the one set of rules (key
// creation calls it; the Python package's dataclasses convert into these types, bound with
// pybind11, and call it too); errors name the field, e.g. "OverlapConfig.degree = 9: ...".
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace magi {

/// Dispatch algorithms: chunks -> ranks with an equal number of chunks per rank (with
/// uneven_shard, at most ceil(chunks / ranks) per rank; only kMinHeap and kSequential).
enum class DispatchAlgType : int8_t {
  kMinHeap,                 // default: largest chunk first onto the least-loaded rank
  kSequential,              // contiguous blocks of chunks (ring-style layout)
  kSortedSequentialSelect,  // keeps a document's chunks together
  kToppHeap,                // among the top-p least-loaded ranks, the one sharing most k ranges
  kExact,                   // optimal by branch and bound; for small inputs and tests
};

struct DispatchAlg {
  DispatchAlgType type = DispatchAlgType::kMinHeap;
  double top_p = 0.0;             // kToppHeap
  double allocation_ratio = 1.0;  // kSortedSequentialSelect
  void validate() const;
  friend bool operator==(const DispatchAlg&, const DispatchAlg&) = default;
};

std::string to_string(DispatchAlgType t);

/// uneven_shard (the original's name): no padding. The sequence is cut into ceil(total /
/// chunk_size) chunks, the last one possibly short, and ranks may hold different numbers of
/// chunks (1 to ceil(chunks / ranks)), so local lengths differ between ranks
/// (DispatchMeta::shard_seqlen(rank)). The solver must allow unequal counts (kMinHeap,
/// kSequential; validate() names any other).
struct DispatchConfig {
  DispatchAlg alg{};
  std::optional<int64_t> chunk_size;  // none: chosen at key creation
  bool uneven_shard = false;
  void validate() const;
  friend bool operator==(const DispatchConfig&, const DispatchConfig&) = default;
};

enum class AttnOverlapMode : int8_t { kStatic, kDynamic };

enum class OverlapAlgType : int8_t {
  kUniform,  // remote chunks cut into equal-count stages in order (optionally shuffled)
  kGreedy,   // stages balanced against the host stage's compute (see plan/overlap_solver)
};

struct OverlapAlg {
  OverlapAlgType type = OverlapAlgType::kUniform;
  bool random_costs = false;  // kUniform: shuffle the remote chunks before grouping
  std::optional<uint64_t> random_seed;
  friend bool operator==(const OverlapAlg&, const OverlapAlg&) = default;
};

/// degree 0: no overlap (one blocking fetch, one kernel call over every key); 1: host stage plus
/// one remote stage; N: N remote stages. Dynamic mode chooses the degree from a cost model.
struct OverlapConfig {
  bool enable = true;  // false forces degree 0 (the original's v1.0 field)
  AttnOverlapMode mode = AttnOverlapMode::kStatic;
  std::optional<int64_t> degree = 1;  // must be set in static mode
  std::optional<int64_t> dynamic_max_degree = 8;
  int64_t min_chunk_size = 512;
  int64_t max_num_chunks = 64;
  OverlapAlg alg{};
  double calc_cost_factor = 1.0;  // cost per cell (dynamic mode)
  double comm_cost_factor = 1.0;  // cost per remote token (dynamic mode)

  /// Degree in effect: 0 when !enable or degree == 0.
  int64_t effective_degree() const;
  void validate() const;
  friend bool operator==(const OverlapConfig&, const OverlapConfig&) = default;
};

/// `inter` nodes of `intra` ranks each. Rank = node * intra + local: the row-major flattening
/// of an (inter, intra) DeviceMesh such as init_hierarchical_mesh returns.
struct CommMesh {
  int64_t inter = 1;
  int64_t intra = 1;

  int64_t size() const { return inter * intra; }
  int64_t node(int64_t rank) const { return rank / intra; }
  int64_t local(int64_t rank) const { return rank % intra; }
  /// Throws, naming the values, unless inter >= 1, intra >= 1 and inter * intra == cp_size.
  void validate(int64_t cp_size) const;
  friend bool operator==(const CommMesh&, const CommMesh&) = default;
};

struct DistAttnConfig {
  DispatchConfig dispatch_config{};
  OverlapConfig overlap_config{};
  int64_t high_bandwith_domain_size = 1;  // the seed's spelling; accepted, not yet used
  /// Hierarchical communication over this mesh of the group's ranks (magi/hier_plan.h); none:
  /// flat, one all_to_all_v per stage. With a mesh, a remote K/V row crosses between nodes at
  /// most once per destination node and then fans out inside it, and partial dK/dV are summed
  /// inside a node before they cross back. Outputs equal the flat ones bit for bit; gradients
  /// up to the order of their sums. Not in the seed's config: the Python package sets it from a
  /// 2-D cp_mesh under MAGI_ATTENTION_HIERARCHICAL_COMM=1. Key creation must match it with the
  /// group size (inter * intra == cp_size) and then plans every rank, whose needs the routing
  /// depends on.
  std::optional<CommMesh> hier_mesh;
  void validate() const;
  friend bool operator==(const DistAttnConfig&, const DistAttnConfig&) = default;
};

}  // namespace magi
