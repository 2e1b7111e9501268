#include "cpu_calibration.h"

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include "magi/comm.h"
#include "magi/ffa.h"
#include "stage_times.h"

namespace magi::cli {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Buffers {
  std::vector<std::byte> raw[9];
  TensorView q, k, v, out, lse, dout, dq, dk, dv;
};

Buffers make_buffers(int64_t rows, int64_t hq, int64_t hkv, int64_t d, DType dtype) {
  Buffers b;
  const DType acc = dtype == DType::kFloat64 ? DType::kFloat64 : DType::kFloat32;
  auto make = [&](int i, DType t, std::initializer_list<int64_t> shape) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    b.raw[i].assign(static_cast<size_t>(n) * dtype_size(t), std::byte{0});
    // Small non-zero inputs: 1/64 in every float element keeps the kernels on their normal
    // path (equal scores) without NaN or overflow.
    if (t == DType::kFloat32) std::fill_n(reinterpret_cast<float*>(b.raw[i].data()), n, 0.015625f);
    if (t == DType::kFloat64) std::fill_n(reinterpret_cast<double*>(b.raw[i].data()), n, 0.015625);
    return TensorView::contiguous(b.raw[i].data(), t, shape);
  };
  b.q = make(0, dtype, {rows, hq, d});
  b.k = make(1, dtype, {rows, hkv, d});
  b.v = make(2, dtype, {rows, hkv, d});
  b.out = make(3, dtype, {rows, hq, d});
  b.lse = make(4, DType::kFloat32, {rows, hq});
  b.dout = make(5, dtype, {rows, hq, d});
  b.dq = make(6, acc, {rows, hq, d});
  b.dk = make(7, acc, {rows, hkv, d});
  b.dv = make(8, acc, {rows, hkv, d});
  return b;
}

}  // namespace

sim::ClusterDesc calibrate_local_group(int64_t cp, int64_t rows, int64_t hq, int64_t hkv, int64_t d,
                                       DType dtype) {
  sim::ClusterDesc c;
  c.nodes = 1;
  c.gpus_per_node = cp;
  c.async_comm = false;
  constexpr int64_t kSmall = 16;
  // Per thread, forward and backward: a FULL and a CAUSAL rows x rows call, and a call over the
  // diagonal alone (one cell per row, every row spanned) on the same buffers (its cost is the
  // per-row part) and on small buffers (the fixed part).
  struct Times {
    double full[2], causal[2], one_big[2], one_small[2];
  };
  std::vector<Times> times(cp);
  std::vector<double> copy(cp);
  const double copy_bytes =
      static_cast<double>(rows * 2 * hkv * d) * static_cast<double>(dtype_size(dtype));
  std::barrier sync(static_cast<std::ptrdiff_t>(cp));
  std::vector<std::thread> threads;
  for (int64_t t = 0; t < cp; ++t) {
    threads.emplace_back([&, t] {
      Buffers big = make_buffers(rows, hq, hkv, d, dtype);
      Buffers small = make_buffers(kSmall, hq, hkv, d, dtype);
      // The fastest of `reps` calls, all threads starting each call together (this machine is
      // shared: the minimum is the least disturbed).
      auto timed = [&](Buffers& b, const std::vector<AttnSlice>& mask, double out[2], int reps) {
        out[0] = out[1] = INFINITY;
        for (int i = 0; i < reps; ++i) {
          sync.arrive_and_wait();
          auto t0 = Clock::now();
          ffa_forward(b.q, b.k, b.v, mask, {}, b.out, b.lse);
          out[0] = std::min(out[0], since(t0));
          sync.arrive_and_wait();
          t0 = Clock::now();
          ffa_backward(b.q, b.k, b.v, b.out, b.lse, b.dout, mask, {}, b.dq, b.dk, b.dv);
          out[1] = std::min(out[1], since(t0));
        }
      };
      const AttnRange all{0, rows}, few{0, kSmall};
      timed(big, {{all, all, AttnMaskType::kFull}}, times[t].full, 3);
      timed(big, {{all, all, AttnMaskType::kCausal}}, times[t].causal, 3);
      timed(big, {{all, all, AttnMaskType::kBiCausal}}, times[t].one_big, 3);
      timed(small, {{few, few, AttnMaskType::kBiCausal}}, times[t].one_small, 10);
      std::vector<std::byte> src(static_cast<size_t>(copy_bytes), std::byte{1}), dst(src.size());
      copy[t] = INFINITY;
      for (int i = 0; i < 5; ++i) {
        sync.arrive_and_wait();
        const auto t0 = Clock::now();
        std::memcpy(dst.data(), src.data(), src.size());
        copy[t] = std::min(copy[t], since(t0));
      }
    });
  }
  for (auto& th : threads) th.join();
  // Means over the threads (each thread is one rank).
  const double n = static_cast<double>(cp);
  auto mean = [&](auto field) {
    double m = 0;
    for (const Times& x : times) m += field(x);
    return m / n;
  };
  const double full_cells = static_cast<double>(rows * rows);
  const double causal_cells = static_cast<double>(rows * (rows + 1) / 2);
  const double flops_per_cell[2] = {4.0 * static_cast<double>(hq * d),
                                    10.0 * static_cast<double>(hq * d)};
  double call_us = 0;
  for (int p = 0; p < 2; ++p) {
    const double small = mean([&](const Times& x) { return x.one_small[p]; });
    const double big = mean([&](const Times& x) { return x.one_big[p]; });
    const double row_ns =
        std::max(0.0, (big - small) / static_cast<double>(2 * rows - 2 * kSmall) * 1e9);
    (p == 0 ? c.fwd_row_ns : c.bwd_row_ns) = row_ns;
    call_us += small * 1e6 / 2;
    // The diagonal's own cells are negligible next to rows x rows.
    const double full = mean([&](const Times& x) { return x.full[p]; }) - big;
    const double causal = mean([&](const Times& x) { return x.causal[p]; }) - big;
    const double rf = full_cells * flops_per_cell[p] / std::max(full, 1e-9) / 1e12;
    const double rc = causal_cells * flops_per_cell[p] / std::max(causal, 1e-9) / 1e12;
    (p == 0 ? c.fwd_tflops : c.bwd_tflops) = {rf, rc, rc, rc};
  }
  c.kernel_overhead_us = call_us;
  double copy_s = 0;
  for (double s : copy) copy_s += s;
  c.intra_gbps = c.inter_gbps = c.mem_gbps = copy_bytes * n / copy_s / 1e9;
  // Latency: 20 empty exchanges in a LocalGroup of cp threads.
  std::vector<double> lat(cp);
  run_local_ranks(cp, [&](Communicator& comm) {
    barrier(comm);
    const auto t0 = Clock::now();
    for (int i = 0; i < 20; ++i) barrier(comm);
    lat[comm.rank()] = since(t0) / 20;
  });
  c.latency_us = *std::max_element(lat.begin(), lat.end()) * 1e6;
  c.validate();
  return c;
}

}  // namespace magi::cli
