// The overlap solver: groups a rank's remote K/V chunks into stages so that fetching stage i
// hides behind computing stage i - 1 (the host stage for i = 0).
#pragma once

#include <cstdint>
#include <vector>

#include "magi/config.h"

namespace magi::plan {

struct OverlapCosts {
  double host_calc = 0;      // compute of the host stage
  std::vector<double> comm;  // per remote chunk: cost to fetch it
  std::vector<double> calc;  // per remote chunk: cost to compute with it
};

using Stages = std::vector<std::vector<int64_t>>;  // chunk ids per stage

/// Pipeline time under the cost model:
///   sum_{i < d} max(comm(stage i), calc(stage i - 1)) + calc(stage d - 1),
/// with calc(stage -1) = host_calc.
double overlap_cost(const OverlapCosts& costs, const Stages& stages);

/// The original's uniform grouping: [host] + remote chunk ids (shuffled with the seed when
/// random_costs) cut into `degree` consecutive groups, the first ones one longer; the host id
/// is dropped from group 0. More stages than chunks leave the extra stages empty.
Stages uniform_stages(int64_t num_chunks, int64_t degree, const OverlapAlg& alg);

/// Fills stage i, in chunk order, while its fetch still hides behind stage i - 1's compute
/// (each stage takes at least one chunk while chunks remain for the later ones; the last
/// stage takes the rest). Returns the cheaper of that and uniform_stages under overlap_cost.
Stages greedy_stages(const OverlapCosts& costs, int64_t degree, const OverlapAlg& alg);

Stages solve_stages(const OverlapCosts& costs, int64_t degree, const OverlapAlg& alg);

/// Dynamic mode: the degree in [1, max_degree] with the lowest cost (ties: the smaller).
int64_t best_degree(const OverlapCosts& costs, int64_t max_degree, const OverlapAlg& alg);

}  // namespace magi::plan
