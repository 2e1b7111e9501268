// The CTA pairs' protocol of the Hopper forward (sm90/fwd_kernel.cuh, -DMAGI_FFA_FWD_PAIRS=1;
// bench/NOTES.md v41 item 7, v45) alone, on the same ptx wrappers, outside FFA: clusters of two
// CTAs walk one sequence of [128 x 128] 16-bit tiles through a two-stage ring; each CTA's
// producer loads the 64-column atom of its rank into both CTAs (TMA multicast), each full barrier
// expects the whole tile, and every consumer warp releases a stage on its own CTA's empty barrier
// and on its partner's (mapa + remote arrive); the producer warpgroup arrives at the closing
// cluster barrier at once, the consumers at their end. The consumers check the tile's values.
// A hang here is the protocol or the wrappers; a pass points at FFA's use of them.
//
//   nvcc -std=c++17 -O2 -gencode arch=compute_90a,code=sm_90a -DMAGI_FFA_WAIT_LIMIT=10000000 \
//     -Isrc -Iinclude tests/cuda/pair_probe.cu src/kernels/cuda/ffa/sm90/tma_desc.cc \
//     -o pair_probe && ./pair_probe
//
// (tools/device_run.sh step `pairprobe`.) Exit 0 when every configuration ran and checked.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/ffa/launch_kernel.cuh"
#include "kernels/cuda/ffa/sm90/pipeline.cuh"
#include "kernels/cuda/ffa/sm90/smem_tile.cuh"
#include "kernels/cuda/ffa/sm90/tma_desc.h"
#include "kernels/cuda/ptx/cluster.cuh"
#include "kernels/cuda/ptx/grid_dependency.cuh"
#include "kernels/cuda/ptx/mbarrier.cuh"
#include "kernels/cuda/ptx/shared.cuh"
#include "kernels/cuda/ptx/tma.cuh"
#include "kernels/cuda/ptx/warpgroup.cuh"

namespace {

using namespace magi::cuda;
using sm90::Barrier;
using sm90::PipelineState;

constexpr int kRows = 128, kCols = 128, kStages = 2, kConsumerWarps = 8;
constexpr int kThreads = 128 + 32 * kConsumerWarps;
using Tile = sm90::Sw128Tile<kRows, kCols>;

struct Storage {
  alignas(1024) unsigned char tile[kStages][Tile::kBytes];
  uint64_t full[kStages], empty[kStages];
};

struct Params {
  CUtensorMap map;  // the tiles: {kCols, 1, rows}, 64-column boxes of kRows rows
  int num_tiles;    // tiles in the tensor
  int steps;        // tiles each CTA walks
  int pair;         // 1: clusters of two sharing each load
  unsigned long long* errors;
};

__host__ __device__ inline int tile_of(int step, int cluster, int num_tiles) {
  return (step * 7 + cluster * 3) % num_tiles;  // both CTAs of a cluster: the same sequence
}
__host__ __device__ inline uint16_t value_bits(int row, int col) {
  // Integers below 256 are exact in bf16: the bits of (row * 7 + col) % 251.
  const float v = static_cast<float>((row * 7 + col) % 251);
#ifdef __CUDA_ARCH__
  const uint32_t u = __float_as_uint(v);
#else
  uint32_t u;
  std::memcpy(&u, &v, 4);
#endif
  return static_cast<uint16_t>(u >> 16);
}

__global__ void __launch_bounds__(kThreads, 1) pair_probe_kernel(const __grid_constant__ Params P) {
  extern __shared__ unsigned char raw[];
  Storage& st = sm90::shared_storage<Storage>(raw);
  ptx::griddep_launch_dependents();
  if (threadIdx.x == 0) {
    for (int i = 0; i < kStages; ++i) {
      Barrier::at(&st.full[i]).init(1);
      Barrier::at(&st.empty[i]).init(kConsumerWarps * (P.pair ? 2 : 1));
    }
    ptx::fence_mbarrier_init();
  }
  if (P.pair) {
    ptx::cluster_sync();
  } else {
    __syncthreads();
  }
  ptx::griddep_wait();
  const int cluster = P.pair ? blockIdx.x / 2 : blockIdx.x;
  const uint32_t rank = P.pair ? ptx::cluster_ctarank() : 0u;
  const uint32_t base = ptx::cvta_to_shared(st.tile[0]);

  if (threadIdx.x < 128) {  // the producer warpgroup
    if (P.pair) ptx::cluster_arrive();
    if (threadIdx.x / 32 != 0 || !ptx::elect_sync()) return;
    PipelineState<kStages> s;
    for (int step = 0; step < P.steps; ++step, s.advance()) {
      const Barrier full = Barrier::at(&st.full[s.index]);
      Barrier::at(&st.empty[s.index]).wait(s.empty_parity());
      full.arrive_expect_bytes(Tile::kBytes);
      const int row0 = kRows * tile_of(step, cluster, P.num_tiles);
      for (int a = 0; a < kCols / 64; ++a) {
        const uint32_t dst = base + s.index * Tile::kBytes + a * Tile::kAtomBytes;
        if (!P.pair) {
          ptx::tma_load_3d(dst, &P.map, 64 * a, 0, row0, full.addr, ptx::policy_evict_last());
        } else if ((a & 1) == static_cast<int>(rank)) {
          ptx::tma_load_3d_multicast(dst, &P.map, 64 * a, 0, row0, full.addr, uint16_t{0b11},
                                     ptx::policy_evict_last());
        }
      }
    }
    return;
  }

  // Consumers: each thread checks 8 values of its row in every tile, then each warp releases.
  const int t = threadIdx.x - 128, lane = t & 31, row = t % kRows, half = t / kRows;
  unsigned long long bad = 0;
  PipelineState<kStages> s;
  for (int step = 0; step < P.steps; ++step, s.advance()) {
    Barrier::at(&st.full[s.index]).wait(s.full_parity());
    const int row0 = kRows * tile_of(step, cluster, P.num_tiles);
    for (int j = 0; j < 8; ++j) {
      const int col = 16 * j + 8 * half + (row & 7);
      uint16_t got;
      const uint32_t at =
          base + s.index * Tile::kBytes + Tile::offset(row, col & ~1) + 2 * (col & 1);
      asm volatile("ld.shared.u16 %0, [%1];\n" : "=h"(got) : "r"(at));
      bad += got != value_bits(row0 + row, col);
    }
    __syncwarp();
    if (lane == 0) {
      Barrier::at(&st.empty[s.index]).arrive();
      if (P.pair) {
        ptx::mbarrier_arrive_cluster(
            ptx::mapa_shared(ptx::cvta_to_shared(&st.empty[s.index]), rank ^ 1u));
      }
    }
  }
  if (bad) atomicAdd(P.errors, bad);
  if (P.pair) ptx::cluster_sync();
}

/// Runs one configuration `repeats` times back to back on one stream; returns the tiles whose
/// checks failed (or -1 after a CUDA error, printed).
long long run(const Params& base, int grid, bool pdl, int repeats) {
  const int smem = static_cast<int>(sizeof(Storage)) + 1024;
  MAGI_CUDA_CHECK(
      cudaFuncSetAttribute(pair_probe_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  Params p = base;
  MAGI_CUDA_CHECK(cudaMemset(p.errors, 0, sizeof(unsigned long long)));
  // The forward's own launch configuration (launch_kernel.cuh).
  const LaunchConfig l(grid, kThreads, smem, nullptr, pdl, p.pair ? 2 : 1);
  for (int r = 0; r < repeats; ++r) {
    const cudaError_t e = cudaLaunchKernelEx(&l.cfg, pair_probe_kernel, p);
    if (e != cudaSuccess) {
      std::printf("launch: %s\n", cudaGetErrorString(e));
      return -1;
    }
  }
  const cudaError_t e = cudaDeviceSynchronize();
  if (e != cudaSuccess) {
    std::printf("run: %s\n", cudaGetErrorString(e));
    return -1;
  }
  unsigned long long errors = 0;
  MAGI_CUDA_CHECK(cudaMemcpy(&errors, p.errors, sizeof(errors), cudaMemcpyDeviceToHost));
  return static_cast<long long>(errors);
}

}  // namespace

int main() {
  constexpr int kTiles = 64;
  std::vector<uint16_t> host(static_cast<size_t>(kTiles) * kRows * kCols);
  for (int r = 0; r < kTiles * kRows; ++r) {
    for (int c = 0; c < kCols; ++c) host[static_cast<size_t>(r) * kCols + c] = value_bits(r, c);
  }
  void* dev = nullptr;
  unsigned long long* errors = nullptr;
  MAGI_CUDA_CHECK(cudaMalloc(&dev, host.size() * 2));
  MAGI_CUDA_CHECK(cudaMalloc(&errors, sizeof(unsigned long long)));
  MAGI_CUDA_CHECK(cudaMemcpy(dev, host.data(), host.size() * 2, cudaMemcpyHostToDevice));
  const uint32_t box[3] = {64, 1, kRows};
  Params p{};
  p.map = sm90::make_tma_desc(
      {dev, {kCols, 1, static_cast<uint64_t>(kTiles) * kRows}, {2 * kCols, 2 * kCols}}, box);
  p.num_tiles = kTiles;
  p.errors = errors;
  int sms = 0;
  MAGI_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  bool ok = true;
  struct Config {
    int pair, grid, steps;
    bool pdl;
  };
  const int even = sms / 2 * 2;
  const Config configs[] = {{0, 2, 64, false},      {1, 2, 1, false},      {1, 2, 2, false},
                            {1, 2, 3, false},       {1, 2, 64, false},     {1, 16, 6, false},
                            {1, even, 1000, false}, {1, even, 1000, true}, {0, even, 1000, true}};
  for (const Config& c : configs) {
    p.pair = c.pair;
    p.steps = c.steps;
    const long long bad = run(p, c.grid, c.pdl, 10);
    std::printf("pair %d grid %d steps %d pdl %d: %s (%lld bad values)\n", c.pair, c.grid, c.steps,
                c.pdl ? 1 : 0, bad == 0 ? "ok" : "FAILED", bad);
    std::fflush(stdout);
    if (bad != 0) {
      ok = false;
      if (bad < 0) break;  // the context is gone after a trap
    }
  }
  cudaFree(dev);
  cudaFree(errors);
  return ok ? 0 : 1;
}
