#include "dispatch/solvers.h"

namespace magi::dispatch {

Buckets solve_sequential(int64_t num_chunks, int64_t num_buckets) {
  check_equal_split(num_chunks, num_buckets);
  const int64_t per = num_chunks / num_buckets;
  Buckets buckets(static_cast<size_t>(num_buckets));
  for (int64_t c = 0; c < num_chunks; ++c) buckets[c / per].push_back(c);
  return buckets;
}

}  // namespace magi::dispatch
