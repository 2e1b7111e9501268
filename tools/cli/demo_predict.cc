#include "demo_predict.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace magi::cli {
namespace {

void print_pass(const char* name, int64_t rank, const MeasuredPass& m, double host_p,
                const std::vector<double>& stage_p, double wait_p, double end_p) {
  std::printf("  %4lld %s host %7.1f %7.1f |", static_cast<long long>(rank), name, m.host_s * 1e3,
              host_p * 1e3);
  for (size_t s = 0; s < m.stage_s.size(); ++s)
    std::printf(" %7.1f %7.1f |", m.stage_s[s] * 1e3, stage_p[s] * 1e3);
  std::printf(" wait %7.1f %7.1f | end %7.1f %7.1f\n", m.wait_s * 1e3, wait_p * 1e3, m.end_s * 1e3,
              end_p * 1e3);
}

}  // namespace

void print_prediction(const Plan& plan, const sim::ClusterDesc& c, const sim::AttnShape& shape,
                      const std::vector<MeasuredPass>& fwd, const std::vector<MeasuredPass>& bwd) {
  const sim::MethodResult p = sim::simulate_magi(plan, nullptr, c, shape);
  std::printf(
      "cost model check: the simulator (magi/sim.h, LocalGroup exchanges) with inputs timed "
      "on this machine by the %lld rank threads at once, just before the passes:\n"
      "  kernels fwd full %.2f, causal %.2f GFLOP/s per rank; bwd full %.2f, causal %.2f; call "
      "%.0f us; per row %.0f ns fwd, %.0f ns bwd; copies %.2f GB/s per rank; exchange latency "
      "%.0f us\n",
      static_cast<long long>(c.size()), c.fwd_tflops[0] * 1e3, c.fwd_tflops[1] * 1e3,
      c.bwd_tflops[0] * 1e3, c.bwd_tflops[1] * 1e3, c.kernel_overhead_us, c.fwd_row_ns,
      c.bwd_row_ns, c.intra_gbps, c.latency_us);
  std::printf(
      "  ms, measured then predicted: rank, pass, host-stage kernel | per-stage kernel | "
      "time in waits | end\n");
  double err_sum = 0, meas_sum = 0;
  int64_t n = 0;
  for (size_t r = 0; r < fwd.size(); ++r) {
    const sim::RankTimes& rt = p.ranks[r];
    print_pass("fwd", static_cast<int64_t>(r), fwd[r], rt.host_fwd_s, rt.fwd_s, rt.fwd_wait_s,
               rt.fwd_end_s);
    print_pass("bwd", static_cast<int64_t>(r), bwd[r], rt.host_bwd_s, rt.bwd_s, rt.bwd_wait_s,
               rt.bwd_end_s);
    const std::pair<const MeasuredPass*, std::pair<double, const std::vector<double>*>> passes[] = {
        {&fwd[r], {rt.host_fwd_s, &rt.fwd_s}}, {&bwd[r], {rt.host_bwd_s, &rt.bwd_s}}};
    for (const auto& [m, pred] : passes) {
      err_sum += std::abs(pred.first - m->host_s);
      meas_sum += m->host_s;
      ++n;
      for (size_t s = 0; s < m->stage_s.size(); ++s) {
        err_sum += std::abs((*pred.second)[s] - m->stage_s[s]);
        meas_sum += m->stage_s[s];
        ++n;
      }
    }
  }
  double fwd_m = 0, bwd_m = 0;
  for (size_t r = 0; r < fwd.size(); ++r) {
    fwd_m = std::max(fwd_m, fwd[r].end_s);
    bwd_m = std::max(bwd_m, bwd[r].end_s);
  }
  std::printf(
      "  kernels: sum |predicted - measured| / sum measured = %.1f%% over %lld "
      "host and stage kernels\n",
      meas_sum > 0 ? 100.0 * err_sum / meas_sum : 0.0, static_cast<long long>(n));
  std::printf(
      "  slowest rank: forward measured %.1f ms, predicted %.1f ms (%+.1f%%); backward "
      "measured %.1f ms, predicted %.1f ms (%+.1f%%)\n",
      fwd_m * 1e3, p.fwd_s * 1e3, 100.0 * (p.fwd_s / fwd_m - 1), bwd_m * 1e3, p.bwd_s * 1e3,
      100.0 * (p.bwd_s / bwd_m - 1));
}

}  // namespace magi::cli
