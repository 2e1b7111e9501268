#include "magi/config.h"

#include "magi/check.h"

namespace magi {

std::string to_string(DispatchAlgType t) {
  switch (t) {
    case DispatchAlgType::kMinHeap:
      return "min_heap";
    case DispatchAlgType::kSequential:
      return "sequential";
    case DispatchAlgType::kSortedSequentialSelect:
      return "sorted_sequential_select";
    case DispatchAlgType::kToppHeap:
      return "topp_heap";
    case DispatchAlgType::kExact:
      return "exact";
  }
  MAGI_FAIL("dispatch alg: invalid value ", static_cast<int>(t));
}

void DispatchAlg::validate() const {
  MAGI_CHECK(static_cast<int>(type) >= 0 && type <= DispatchAlgType::kExact,
             "DispatchAlg.type = ", static_cast<int>(type), ": not a dispatch algorithm");
  MAGI_CHECK(top_p >= 0.0 && top_p <= 1.0, "DispatchAlg.top_p = ", top_p, ": must be in [0, 1]");
  MAGI_CHECK(allocation_ratio > 0.0 && allocation_ratio <= 1.0,
             "DispatchAlg.allocation_ratio = ", allocation_ratio, ": must be in (0, 1]");
}

void DispatchConfig::validate() const {
  MAGI_CHECK(!chunk_size || *chunk_size >= 1,
             "DispatchConfig.chunk_size = ", chunk_size.value_or(0), ": must be >= 1");
  alg.validate();
  // NOTE: as the original, only solvers without an equal-count constraint take uneven shards.
  MAGI_CHECK(!uneven_shard || alg.type == DispatchAlgType::kMinHeap ||
                 alg.type == DispatchAlgType::kSequential,
             "DispatchConfig.uneven_shard = true with DispatchAlg.type = ", to_string(alg.type),
             ": that solver gives every rank an equal chunk count; use min_heap or sequential");
}

int64_t OverlapConfig::effective_degree() const {
  if (!enable) return 0;
  return degree.value_or(-1);
}

void OverlapConfig::validate() const {
  MAGI_CHECK(static_cast<int>(alg.type) >= 0 && alg.type <= OverlapAlgType::kGreedy,
             "OverlapAlg.type = ", static_cast<int>(alg.type), ": not an overlap algorithm");
  MAGI_CHECK(mode == AttnOverlapMode::kStatic || mode == AttnOverlapMode::kDynamic,
             "OverlapConfig.mode = ", static_cast<int>(mode), ": not an overlap mode");
  MAGI_CHECK(min_chunk_size >= 1, "OverlapConfig.min_chunk_size = ", min_chunk_size,
             ": must be >= 1");
  MAGI_CHECK(max_num_chunks >= 1, "OverlapConfig.max_num_chunks = ", max_num_chunks,
             ": must be >= 1");
  MAGI_CHECK(calc_cost_factor > 0, "OverlapConfig.calc_cost_factor = ", calc_cost_factor,
             ": must be > 0");
  MAGI_CHECK(comm_cost_factor > 0, "OverlapConfig.comm_cost_factor = ", comm_cost_factor,
             ": must be > 0");
  MAGI_CHECK(!dynamic_max_degree || *dynamic_max_degree >= 1,
             "OverlapConfig.dynamic_max_degree = ", dynamic_max_degree.value_or(0),
             ": must be >= 1");
  MAGI_CHECK(!degree || *degree >= 0, "OverlapConfig.degree = ", degree.value_or(0),
             ": must be >= 0");
  if (!enable) return;
  if (mode == AttnOverlapMode::kStatic) {
    MAGI_CHECK(degree.has_value(),
               "OverlapConfig.degree = None: static overlap mode needs a degree");
    MAGI_CHECK(*degree <= max_num_chunks, "OverlapConfig.degree = ", *degree,
               ": must be <= max_num_chunks = ", max_num_chunks);
  } else {
    MAGI_CHECK(!degree.has_value(), "OverlapConfig.degree = ", *degree,
               ": must be None in dynamic mode");
  }
}

void DistAttnConfig::validate() const {
  dispatch_config.validate();
  overlap_config.validate();
  MAGI_CHECK(high_bandwith_domain_size >= 1,
             "DistAttnConfig.high_bandwith_domain_size = ", high_bandwith_domain_size,
             ": must be >= 1");
  if (hier_mesh) {
    MAGI_CHECK(hier_mesh->inter >= 1 && hier_mesh->intra >= 1,
               "DistAttnConfig.hier_mesh = ", hier_mesh->inter, "x", hier_mesh->intra,
               ": both sizes must be >= 1 (inter-node x intra-node)");
  }
}

void CommMesh::validate(int64_t cp_size) const {
  MAGI_CHECK(inter >= 1 && intra >= 1, "mesh ", inter, "x", intra,
             ": both sizes must be >= 1 (inter-node x intra-node)");
  MAGI_CHECK(inter * intra == cp_size, "mesh ", inter, "x", intra, " has ", inter * intra,
             " ranks, but cp_size = ", cp_size);
}

}  // namespace magi
