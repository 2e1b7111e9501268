// The CTA pairs' protocol of the Hopper forward (sm90/fwd_kernel.cuh, -DMAGI_FFA_FWD_PAIRS=1;
// bench/NOTES.md v41 item 7, v46) alone, on the same ptx wrappers, outside FFA: clusters of two
// CTAs walk one sequence of [128 x 128] 16-bit tiles through a two-stage ring; each CTA's
// producer loads the 64-column atom of its rank into both CTAs (TMA multicast), each full barrier
// expects the whole tile, and every consumer warp releases a stage on its own CTA's empty barrier
// and on its partner's (mapa + remote arrive); the producer warpgroup arrives at the closing
// cluster barrier at once, the consumers at their end. The consumers check the tile's values.
// A hang here is the protocol or the wrappers; a pass points at FFA's use of them.
//
//   pair_probe [mode [features]]   (Mode, Feature below; default: FFA's protocol, all parts)
//
// Other modes and feature sets take the protocol apart (how v46 found the hang: lanes of the
// producer warp that left the kernel while the elected one loaded, with the early arrival at
// the closing cluster barrier; `pair_probe 0 39` is that structure, `pair_probe 0 71` FFA's
// since: the whole producer warp walks, one lane issues). Built and run by
// tools/device_run.sh's step `pairprobe`. Exit 0 when every configuration ran and checked.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
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
  int progress;  // the tiles the producer has issued (the reporter prints it)
};

struct Params {
  CUtensorMap map;  // the tiles: {kCols, 1, rows}, 64-column boxes of kRows rows
  int num_tiles;    // tiles in the tensor
  int steps;        // tiles each CTA walks
  int pair;         // 1: clusters of two (then `mode` says how they load)
  int mode;         // Mode: how a pair loads a tile (load_tile)
  int features;     // in a pair, which of the protocol's parts run (Feature bits)
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

// How a pair loads a tile.
enum Mode : int {
  kSplitMulticast = 0,  // FFA's: rank r multicasts the atoms of parity r into both CTAs
  kLocal = 1,           // each CTA loads both atoms into itself (no multicast), same barriers
  kSelfMulticast = 2,   // each CTA multicasts both atoms with a mask of its own rank only
  kRankZero = 3,        // rank 0 multicasts both atoms into both CTAs; rank 1 loads nothing
  kNumModes
};
const char* const kModeNames[] = {"split_multicast", "local", "self_multicast", "rank_zero"};
// The parts of a pair's protocol (the first three: FFA's).
enum Feature : int {
  kStartSync = 1,  // a cluster barrier after the barriers' init (else __syncthreads)
  kEndSync = 2,    // the producer warpgroup arrives at a closing cluster barrier, consumers sync
  kRemoteRelease = 4,  // consumers release each stage in the other CTA too (empty counts x2)
  kAllFeatures = 7,
  kLateArrive = 8,     // with kEndSync: the producer warp arrives after its walk, not at once
  kProducerSync = 16,  // with kEndSync: the producer warpgroup waits at the closing barrier too
  kLanesExit = 32,     // the producer warp's other lanes leave at once (FFA before v46)
  kWarpWalk = 64,      // the whole producer warp walks, the elected lane issues (FFA since v46)
};

/// The producer's loads of one tile (rows from row0) into `dst` on barrier `full`.
__device__ void load_tile(const Params& P, uint32_t dst, int row0, uint32_t full, uint32_t rank) {
  const uint64_t policy = ptx::policy_evict_last();
  for (int a = 0; a < kCols / 64; ++a) {
    const uint32_t d = dst + a * Tile::kAtomBytes;
    if (!P.pair || P.mode == kLocal) {
      ptx::tma_load_3d(d, &P.map, 64 * a, 0, row0, full, policy);
    } else if (P.mode == kSelfMulticast) {
      ptx::tma_load_3d_multicast(d, &P.map, 64 * a, 0, row0, full, uint16_t(1u << rank), policy);
    } else if (P.mode == kRankZero ? rank == 0 : (a & 1) == static_cast<int>(rank)) {
      ptx::tma_load_3d_multicast(d, &P.map, 64 * a, 0, row0, full, uint16_t{0b11}, policy);
    }
  }
}

/// The value at (row, col) of a stage.
__device__ inline uint16_t stage_value(const unsigned char* stage, int row, int col) {
  return *reinterpret_cast<const uint16_t*>(stage + Tile::offset(row, col & ~1) + 2 * (col & 1));
}

/// Barrier::wait with a poll limit; past it the first consumer warp's lane 0 (`report`) prints
/// what it sees (the stage's barrier words, the tiles the producer issued, which atoms of the
/// stage hold the expected values), then traps; the other threads wait for that.
__device__ void wait_or_report(const Storage& st, int stage, uint32_t parity, bool report, int row0,
                               int step) {
  const uint32_t bar = Barrier::at(&st.full[stage]).addr;
  for (long long i = 0; !ptx::mbarrier_try_wait_parity(bar, parity); ++i) {
    if (i < 2000000 || !report) continue;
    int good[2] = {0, 0};
    for (int r = 0; r < kRows; ++r) {
      for (int a = 0; a < 2; ++a) {
        const int col = 64 * a + (r % 64);
        good[a] += stage_value(st.tile[stage], r, col) == value_bits(row0 + r, col);
      }
    }
    printf(
        "stuck: block %d rank %u step %d bar 0x%x parity %u: full 0x%016llx empty 0x%016llx, "
        "producer issued %d; rows right atom0 %d atom1 %d of %d\n",
        blockIdx.x, ptx::cluster_ctarank(), step, bar, parity,
        *reinterpret_cast<const volatile unsigned long long*>(&st.full[stage]),
        *reinterpret_cast<const volatile unsigned long long*>(&st.empty[stage]),
        *reinterpret_cast<const volatile int*>(&st.progress), good[0], good[1], kRows);
    __trap();
  }
}

__global__ void __launch_bounds__(kThreads, 1) pair_probe_kernel(const __grid_constant__ Params P) {
  extern __shared__ unsigned char raw[];
  Storage& st = sm90::shared_storage<Storage>(raw);
  const bool remote = P.pair && (P.features & kRemoteRelease);
  const bool end_sync = P.pair && (P.features & kEndSync);
  ptx::griddep_launch_dependents();
  if (threadIdx.x == 0) {
    st.progress = 0;
    for (int i = 0; i < kStages; ++i) {
      Barrier::at(&st.full[i]).init(1);
      Barrier::at(&st.empty[i]).init(kConsumerWarps * (remote ? 2 : 1));
    }
    ptx::fence_mbarrier_init();
  }
  if (P.pair && (P.features & kStartSync)) {
    ptx::cluster_sync();
  } else {
    __syncthreads();
  }
  ptx::griddep_wait();
  const int cluster = P.pair ? blockIdx.x / 2 : blockIdx.x;
  const uint32_t rank = P.pair ? ptx::cluster_ctarank() : 0u;
  const uint32_t base = ptx::cvta_to_shared(st.tile[0]);
  if (threadIdx.x == 0 && blockIdx.x < 2 && P.steps <= 2) {
    const uint32_t full = ptx::cvta_to_shared(&st.full[0]);
    printf("block %d rank %u: tile 0x%x full 0x%x, mapa(full, other) 0x%x\n", blockIdx.x, rank,
           base, full, P.pair ? ptx::mapa_shared(full, rank ^ 1u) : 0u);
  }

  if (threadIdx.x < 128) {  // the producer warpgroup
    const bool late = end_sync && (P.features & kLateArrive) && threadIdx.x < 32;
    if (end_sync && !late) ptx::cluster_arrive();
    const bool elected = threadIdx.x / 32 == 0 && ptx::elect_sync();
    if (!elected && (P.features & kLanesExit)) return;
    if (elected || (threadIdx.x / 32 == 0 && (P.features & kWarpWalk))) {
      PipelineState<kStages> s;
      for (int step = 0; step < P.steps; ++step, s.advance()) {
        const Barrier full = Barrier::at(&st.full[s.index]);
        Barrier::at(&st.empty[s.index]).wait(s.empty_parity());
        if (elected) {
          full.arrive_expect_bytes(Tile::kBytes);
          load_tile(P, base + s.index * Tile::kBytes, kRows * tile_of(step, cluster, P.num_tiles),
                    full.addr, rank);
          *reinterpret_cast<volatile int*>(&st.progress) = step + 1;
        }
      }
      if (P.features & kLanesExit) return;
    }
    __syncwarp();
    if (late) ptx::cluster_arrive();
    if (end_sync && (P.features & kProducerSync)) ptx::cluster_wait();
    return;
  }

  // Consumers: each thread checks 8 values of its row in every tile, then each warp releases.
  const int t = threadIdx.x - 128, lane = t & 31, row = t % kRows, half = t / kRows;
  unsigned long long bad = 0;
  PipelineState<kStages> s;
  for (int step = 0; step < P.steps; ++step, s.advance()) {
    const int row0 = kRows * tile_of(step, cluster, P.num_tiles);
    wait_or_report(st, s.index, s.full_parity(), t == 0, row0, step);
    for (int j = 0; j < 8; ++j) {
      const int col = 16 * j + 8 * half + (row & 7);
      bad += stage_value(st.tile[s.index], row, col) != value_bits(row0 + row, col);
    }
    __syncwarp();
    if (lane == 0) {
      Barrier::at(&st.empty[s.index]).arrive();
      if (remote) {
        ptx::mbarrier_arrive_cluster(
            ptx::mapa_shared(ptx::cvta_to_shared(&st.empty[s.index]), rank ^ 1u));
      }
    }
  }
  if (bad) atomicAdd(P.errors, bad);
  if (end_sync) ptx::cluster_sync();
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

int main(int argc, char** argv) {
  const int mode = argc > 1 ? std::atoi(argv[1]) : 0;
  if (mode < 0 || mode >= kNumModes) {
    std::printf("mode %d: not in [0, %d)\n", mode, int{kNumModes});
    return 2;
  }
  const int features = argc > 2 ? std::atoi(argv[2]) : kAllFeatures;
  std::printf("mode %d (%s), features %d\n", mode, kModeNames[mode], features);
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
  p.mode = mode;
  p.features = features;
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
