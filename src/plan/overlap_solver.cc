#include "plan/overlap_solver.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "magi/check.h"

namespace magi::plan {

double overlap_cost(const OverlapCosts& costs, const Stages& stages) {
  double total = 0, prev_calc = costs.host_calc;
  for (const auto& stage : stages) {
    double comm = 0, calc = 0;
    for (int64_t c : stage) {
      comm += costs.comm[c];
      calc += costs.calc[c];
    }
    total += std::max(comm, prev_calc);
    prev_calc = calc;
  }
  return total + prev_calc;
}

Stages uniform_stages(int64_t num_chunks, int64_t degree, const OverlapAlg& alg) {
  MAGI_CHECK(degree >= 1, "degree = ", degree, ": must be >= 1 here");
  std::vector<int64_t> order(num_chunks);
  std::iota(order.begin(), order.end(), 0);
  if (alg.random_costs) {
    // NOTE: an explicit Fisher-Yates over mt19937_64's raw output, so the permutation is the
    // same on every rank and every standard library.
    std::mt19937_64 rng(alg.random_seed.value_or(0));
    for (int64_t i = num_chunks - 1; i > 0; --i) {
      std::swap(order[i], order[static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1))]);
    }
  }
  Stages stages(degree);
  const int64_t num_stages = num_chunks + 1;  // with the host stage
  const int64_t groups = std::min(degree, num_chunks);
  if (groups == 0) return stages;
  int64_t pos = 0;  // position in [host] + order
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t len = num_stages / groups + (g < num_stages % groups ? 1 : 0);
    for (int64_t i = pos; i < pos + len; ++i) {
      if (i > 0) stages[g].push_back(order[i - 1]);
    }
    pos += len;
  }
  return stages;
}

Stages greedy_stages(const OverlapCosts& costs, int64_t degree, const OverlapAlg& alg) {
  const int64_t n = static_cast<int64_t>(costs.comm.size());
  Stages stages(degree);
  double budget = costs.host_calc;
  int64_t next = 0;
  for (int64_t s = 0; s < degree && next < n; ++s) {
    const int64_t stages_left = degree - s;
    double comm = 0, calc = 0;
    while (next < n) {
      const bool last_stage = s == degree - 1;
      const bool must_take = stages[s].empty();
      const bool leave_for_later = n - next <= stages_left - 1;
      if (!last_stage && !must_take && (leave_for_later || comm + costs.comm[next] > budget)) {
        break;
      }
      comm += costs.comm[next];
      calc += costs.calc[next];
      stages[s].push_back(next++);
    }
    budget = calc;
  }
  Stages uniform = uniform_stages(n, degree, alg);
  return overlap_cost(costs, uniform) < overlap_cost(costs, stages) ? uniform : stages;
}

Stages solve_stages(const OverlapCosts& costs, int64_t degree, const OverlapAlg& alg) {
  const int64_t n = static_cast<int64_t>(costs.comm.size());
  return alg.type == OverlapAlgType::kGreedy ? greedy_stages(costs, degree, alg)
                                             : uniform_stages(n, degree, alg);
}

int64_t best_degree(const OverlapCosts& costs, int64_t max_degree, const OverlapAlg& alg) {
  int64_t best = 1;
  double best_cost = overlap_cost(costs, solve_stages(costs, 1, alg));
  for (int64_t d = 2; d <= max_degree; ++d) {
    const double c = overlap_cost(costs, solve_stages(costs, d, alg));
    if (c < best_cost) {
      best = d;
      best_cost = c;
    }
  }
  return best;
}

}  // namespace magi::plan
