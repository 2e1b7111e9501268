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

void DispatchConfig::validate() const {
  MAGI_CHECK(!chunk_size || *chunk_size >= 1, "chunk_size = ", chunk_size.value_or(0),
             ": must be >= 1");
  MAGI_CHECK(alg.top_p >= 0.0 && alg.top_p <= 1.0, "top_p = ", alg.top_p, ": must be in [0, 1]");
  MAGI_CHECK(alg.allocation_ratio > 0.0 && alg.allocation_ratio <= 1.0,
             "allocation_ratio = ", alg.allocation_ratio, ": must be in (0, 1]");
}

int64_t OverlapConfig::effective_degree() const {
  if (!enable) return 0;
  return degree.value_or(-1);
}

void OverlapConfig::validate() const {
  MAGI_CHECK(min_chunk_size >= 1, "min_chunk_size = ", min_chunk_size, ": must be >= 1");
  MAGI_CHECK(max_num_chunks >= 1, "max_num_chunks = ", max_num_chunks, ": must be >= 1");
  MAGI_CHECK(calc_cost_factor > 0, "calc_cost_factor = ", calc_cost_factor, ": must be > 0");
  MAGI_CHECK(comm_cost_factor > 0, "comm_cost_factor = ", comm_cost_factor, ": must be > 0");
  if (mode == AttnOverlapMode::kStatic || !enable) {
    MAGI_CHECK(degree.has_value() || !enable, "degree = None: static overlap mode needs a degree");
    if (degree) {
      MAGI_CHECK(*degree >= 0, "degree = ", *degree, ": must be >= 0");
      MAGI_CHECK(*degree <= max_num_chunks, "degree = ", *degree,
                 ": must be <= max_num_chunks = ", max_num_chunks);
    }
  } else {
    MAGI_CHECK(!dynamic_max_degree || *dynamic_max_degree >= 1,
               "dynamic_max_degree = ", dynamic_max_degree.value_or(0), ": must be >= 1");
  }
}

void DistAttnConfig::validate() const {
  dispatch_config.validate();
  overlap_config.validate();
  MAGI_CHECK(high_bandwith_domain_size >= 1,
             "high_bandwith_domain_size = ", high_bandwith_domain_size, ": must be >= 1");
}

}  // namespace magi
