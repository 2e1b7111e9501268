#include "cpu_calibration.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <vector>

#include "magi/ffa.h"
#include "stage_times.h"

namespace magi::cli {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

constexpr int64_t kSmall = 16;

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
    // 1/64 everywhere: finite, equal scores, the kernels' normal path.
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

KernelTimings time_rank_kernels(Communicator& comm, int64_t rows, int64_t hq, int64_t hkv,
                                int64_t d, DType dtype) {
  KernelTimings t;
  Buffers big = make_buffers(rows, hq, hkv, d, dtype);
  Buffers small = make_buffers(kSmall, hq, hkv, d, dtype);
  // The fastest of `reps` calls, every rank starting each call together (the machine may be
  // shared: the minimum is the least disturbed).
  auto timed = [&](Buffers& b, const std::vector<AttnSlice>& mask, double out[2], int reps) {
    out[0] = out[1] = INFINITY;
    for (int i = 0; i < reps; ++i) {
      barrier(comm);
      auto t0 = Clock::now();
      ffa_forward(b.q, b.k, b.v, mask, {}, b.out, b.lse);
      out[0] = std::min(out[0], since(t0));
      barrier(comm);
      t0 = Clock::now();
      ffa_backward(b.q, b.k, b.v, b.out, b.lse, b.dout, mask, {}, b.dq, b.dk, b.dv);
      out[1] = std::min(out[1], since(t0));
    }
  };
  const AttnRange all{0, rows}, few{0, kSmall};
  timed(big, {{all, all, AttnMaskType::kFull}}, t.full, 2);
  timed(big, {{all, all, AttnMaskType::kCausal}}, t.causal, 2);
  timed(big, {{all, all, AttnMaskType::kBiCausal}}, t.diag_big, 3);
  timed(small, {{few, few, AttnMaskType::kBiCausal}}, t.diag_small, 10);
  t.copy_bytes = static_cast<double>(rows * 2 * hkv * d) * static_cast<double>(dtype_size(dtype));
  std::vector<std::byte> src(static_cast<size_t>(t.copy_bytes), std::byte{1}), dst(src.size());
  t.copy_s = INFINITY;
  for (int i = 0; i < 5; ++i) {
    barrier(comm);
    const auto t0 = Clock::now();
    std::memcpy(dst.data(), src.data(), src.size());
    t.copy_s = std::min(t.copy_s, since(t0));
  }
  barrier(comm);
  const auto t0 = Clock::now();
  for (int i = 0; i < 20; ++i) barrier(comm);
  t.exchange_s = since(t0) / 20;
  return t;
}

sim::ClusterDesc local_group_cluster(std::span<const KernelTimings> ranks, int64_t rows, int64_t hq,
                                     int64_t d) {
  sim::ClusterDesc c;
  c.nodes = 1;
  c.gpus_per_node = static_cast<int64_t>(ranks.size());
  c.async_comm = false;
  const double n = static_cast<double>(ranks.size());
  auto mean = [&](auto field) {
    double m = 0;
    for (const KernelTimings& t : ranks) m += field(t);
    return m / n;
  };
  const double full_cells = static_cast<double>(rows * rows);
  const double causal_cells = static_cast<double>(rows * (rows + 1) / 2);
  const double flops_per_cell[2] = {4.0 * static_cast<double>(hq * d),
                                    10.0 * static_cast<double>(hq * d)};
  double call_us = 0;
  for (int p = 0; p < 2; ++p) {
    const double small = mean([&](const KernelTimings& t) { return t.diag_small[p]; });
    const double big = mean([&](const KernelTimings& t) { return t.diag_big[p]; });
    (p == 0 ? c.fwd_row_ns : c.bwd_row_ns) =
        std::max(0.0, (big - small) / static_cast<double>(2 * rows - 2 * kSmall) * 1e9);
    call_us += small * 1e6 / 2;
    // The diagonal's own cells are negligible next to rows x rows.
    const double full = mean([&](const KernelTimings& t) { return t.full[p]; }) - big;
    const double causal = mean([&](const KernelTimings& t) { return t.causal[p]; }) - big;
    const double rf = full_cells * flops_per_cell[p] / std::max(full, 1e-9) / 1e12;
    const double rc = causal_cells * flops_per_cell[p] / std::max(causal, 1e-9) / 1e12;
    (p == 0 ? c.fwd_tflops : c.bwd_tflops) = {rf, rc, rc, rc};
  }
  c.kernel_overhead_us = call_us;
  const double copy_s = mean([](const KernelTimings& t) { return t.copy_s; });
  c.intra_gbps = c.inter_gbps = c.mem_gbps = ranks[0].copy_bytes / copy_s / 1e9;
  double lat = 0;
  for (const KernelTimings& t : ranks) lat = std::max(lat, t.exchange_s);
  c.latency_us = lat * 1e6;
  c.validate();
  return c;
}

}  // namespace magi::cli
