// The executor on a device backend (the recording backend: host memory claimed as CUDA, CPU
// kernels): the same results as on the CPU backend, bit for bit, for every overlap degree and
// group size, flat and hierarchical; everything a call needs is prepared once per key and device
// (no FFA work or range list is prepared again by later calls, no transient range list is made),
// and each call takes at most one scratch block.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "magi/dist_attn.h"
#include "testing/dist_run.h"
#include "testing/recording_backend.h"
#include "testing/seed.h"

namespace magi {
namespace {

using testing::CaseSpec;
using testing::Recording;

struct Counts {
  int builds, list_builds, transient, allocations, frees;
};

Counts run_on(Recording& r, CaseSpec s, int calls, const std::vector<double>& q,
              const std::vector<double>& k, const std::vector<double>& dout,
              testing::Result* result) {
  const Counts before{r.backend.builds.load(), r.backend.list_builds.load(),
                      r.backend.transient_lists.load(), r.backend.counting.allocations.load(),
                      r.backend.counting.frees.load()};
  s.calls = calls;
  *result = testing::run(s, q, k, k, dout);
  return {r.backend.builds.load() - before.builds,
          r.backend.list_builds.load() - before.list_builds,
          r.backend.transient_lists.load() - before.transient,
          r.backend.counting.allocations.load() - before.allocations,
          r.backend.counting.frees.load() - before.frees};
}

TEST(Executor, ADeviceBackendMatchesTheCpuAndPreparesEachKeyOnce) {
  Recording r;
  std::mt19937_64 rng(testing::seed(5));
  for (int64_t cp : {1, 2, 3, 4}) {
    for (int64_t degree : {0, 1, 2}) {
      // cp 4 communicates hierarchically (mesh 2x2): its lists are prepared once too.
      SCOPED_TRACE("cp " + std::to_string(cp) + " degree " + std::to_string(degree));
      clear_key_cache();
      CaseSpec s;
      s.cp = cp;
      s.total = 45;
      s.chunk = 3;
      s.hq = 2;
      s.hkv = 1;
      s.dtype = DType::kFloat32;
      s.slices = {{{0, 20}, {0, 20}, AttnMaskType::kCausal},
                  {{20, 45}, {5, 45}, AttnMaskType::kCausal},
                  {{30, 45}, {0, 10}, AttnMaskType::kFull}};
      s.config.overlap_config.degree = degree;
      s.config.overlap_config.min_chunk_size = 1;
      if (cp == 4) s.config.hier_mesh = CommMesh{2, 2};
      const auto q = testing::random_values(rng, s.total * s.hq * s.d);
      const auto k = testing::random_values(rng, s.total * s.hkv * s.d);
      const auto dout = testing::random_values(rng, s.total * s.hq * s.d);

      const testing::Result cpu = testing::run(s, q, k, k, dout);
      s.device = testing::kRecordedCuda;
      testing::Result once, thrice;
      const Counts c1 = run_on(r, s, 1, q, k, dout, &once);
      clear_key_cache();
      const Counts c3 = run_on(r, s, 3, q, k, dout, &thrice);
      for (const testing::Result* got : {&once, &thrice}) {
        EXPECT_EQ(got->out, cpu.out);
        EXPECT_EQ(got->lse, cpu.lse);
        EXPECT_EQ(got->dq, cpu.dq);
        EXPECT_EQ(got->dk, cpu.dk);
        EXPECT_EQ(got->dv, cpu.dv);
      }
      // Two more calls of each pass prepare nothing new: only their blocks are new.
      EXPECT_EQ(c3.builds, c1.builds);
      EXPECT_EQ(c3.list_builds, c1.list_builds);
      EXPECT_GE(c1.builds, static_cast<int>(cp));  // each rank's work, on its "device"
      EXPECT_EQ(c1.transient, 0);
      EXPECT_EQ(c3.transient, 0);
      EXPECT_LE(c3.allocations - c1.allocations, 2 * 2 * static_cast<int>(cp));  // <= 1 a call
      EXPECT_EQ(c3.allocations, c3.frees);
    }
  }
  clear_key_cache();
}

TEST(Executor, DeterministicModeSumsPartialGradientsInListOrder) {
  // The partial dK/dV of rows sent to several ranks come back from each: in the deterministic
  // mode the executor asks the backend for the ordered scatter-add (on CUDA one launch per
  // layer of overlapping ranges, kernels/range_layers.h), and only then.
  Recording r;
  std::mt19937_64 rng(testing::seed(9));
  for (int64_t cp : {2, 3, 4}) {
    for (bool det : {false, true}) {
      SCOPED_TRACE("cp " + std::to_string(cp) + (det ? " deterministic" : ""));
      clear_key_cache();
      CaseSpec s;
      s.cp = cp;
      s.total = 40;
      s.chunk = 2;
      s.dtype = DType::kFloat32;
      s.slices = {{{0, 40}, {0, 40}, AttnMaskType::kCausal}};
      s.config.overlap_config.degree = 2;
      s.config.overlap_config.min_chunk_size = 1;
      if (cp == 4) s.config.hier_mesh = CommMesh{2, 2};
      s.opts.deterministic = det;
      const auto q = testing::random_values(rng, s.total * s.hq * s.d);
      const auto k = testing::random_values(rng, s.total * s.hkv * s.d);
      const auto dout = testing::random_values(rng, s.total * s.hq * s.d);
      const testing::Result cpu = testing::run(s, q, k, k, dout);
      s.device = testing::kRecordedCuda;
      const int before = r.backend.ordered_scatter_adds.load();
      const testing::Result got = testing::run(s, q, k, k, dout);
      EXPECT_EQ(got.dk, cpu.dk);
      EXPECT_EQ(got.dv, cpu.dv);
      const int ordered = r.backend.ordered_scatter_adds.load() - before;
      if (det) {
        EXPECT_GT(ordered, 0);
      } else {
        EXPECT_EQ(ordered, 0);
      }
    }
  }
}

}  // namespace
}  // namespace magi
