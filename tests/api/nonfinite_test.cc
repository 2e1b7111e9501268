// NaN and Inf through context parallelism (DESIGN.md §6, "NaN is data"): one non-finite input
// element gives the distributed pipeline exactly the non-finite outputs and gradients of the
// single-device FFA on the whole problem, and a row whose scores hold a NaN has lse = NaN,
// never -inf (issue 15, item 1).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "magi/dist_attn.h"
#include "magi/ffa.h"
#include "testing/dense_attention.h"
#include "testing/dist_run.h"
#include "testing/host_tensor.h"
#include "testing/random_mask.h"
#include "testing/seed.h"

namespace magi {
namespace {

using testing::CaseSpec;
using testing::HostTensor;
using testing::Result;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

/// The whole problem on one device (CPU FFA, fp64).
Result single_device(const CaseSpec& s, const std::vector<double>& q, const std::vector<double>& k,
                     const std::vector<double>& v, const std::vector<double>& dout) {
  const int64_t S = s.total;
  HostTensor Q(s.dtype, {S, s.hq, s.d}), K(s.dtype, {S, s.hkv, s.d}), V(s.dtype, {S, s.hkv, s.d}),
      dO(s.dtype, {S, s.hq, s.d}), O(s.dtype, {S, s.hq, s.d}), L(s.dtype, {S, s.hq});
  Q.set(q);
  K.set(k);
  V.set(v);
  dO.set(dout);
  HostTensor dq(s.dtype, {S, s.hq, s.d}), dk(s.dtype, {S, s.hkv, s.d}),
      dv(s.dtype, {S, s.hkv, s.d});
  ffa_forward(Q.view(), K.view(), V.view(), s.slices, s.opts, O.view(), L.view());
  ffa_backward(Q.view(), K.view(), V.view(), O.view(), L.view(), dO.view(), s.slices, s.opts,
               dq.view(), dk.view(), dv.view());
  return {O.get(), L.get(), dq.get(), dk.get(), dv.get()};
}

/// got has a NaN exactly where ref has one, the same infinities, and finite values within tol
/// of ref (relative to max(1, max |ref|)). Returns the number of NaN entries.
int64_t expect_same_nonfinite(const std::vector<double>& got, const std::vector<double>& ref,
                              const std::string& what, double tol = 1e-10) {
  EXPECT_EQ(got.size(), ref.size()) << what;
  double scale = 1;
  for (double x : ref) scale = std::isfinite(x) ? std::max(scale, std::abs(x)) : scale;
  int64_t nans = 0;
  for (size_t i = 0; i < std::min(got.size(), ref.size()); ++i) {
    if (std::isnan(ref[i])) {
      ++nans;
      EXPECT_TRUE(std::isnan(got[i])) << what << "[" << i << "]: got " << got[i] << ", want NaN";
    } else if (std::isinf(ref[i])) {
      EXPECT_EQ(got[i], ref[i]) << what << "[" << i << "]";
    } else {
      EXPECT_NEAR(got[i], ref[i], tol * scale) << what << "[" << i << "]";
    }
    if (::testing::Test::HasFailure()) return nans;
  }
  return nans;
}

struct Poison {
  const char* name;
  char tensor;  // 'q', 'k', 'v' or 'o' (dout)
  double value;
};

const Poison kPoisons[] = {{"NaN in K", 'k', kNaN},   {"+Inf in K", 'k', kInf},
                           {"-Inf in K", 'k', -kInf}, {"NaN in Q", 'q', kNaN},
                           {"NaN in V", 'v', kNaN},   {"Inf in V", 'v', kInf},
                           {"NaN in dO", 'o', kNaN}};

/// Masks: packed documents (causal), one full mask, and overlapping slices of all types.
std::vector<std::vector<AttnSlice>> masks(int64_t S) {
  using T = AttnMaskType;
  return {{{{0, 13}, {0, 13}, T::kCausal},
           {{13, 30}, {13, 30}, T::kCausal},
           {{30, S}, {30, S}, T::kCausal}},
          {{{0, S}, {0, S}, T::kFull}},
          {{{0, 20}, {0, 25}, T::kCausal},
           {{20, S}, {5, S}, T::kBiCausal},
           {{10, 30}, {0, 12}, T::kInvCausal},
           {{30, S}, {40, S}, T::kFull}}};
}

TEST(NonFinite, DistributedMatchesSingleDeviceExactly) {
  const int64_t S = 48;
  std::mt19937_64 rng(testing::seed(15));
  int checked = 0;
  for (const auto& slices : masks(S)) {
    for (const Poison& poison : kPoisons) {
      for (int64_t cp : {2, 4}) {
        for (int64_t degree : {0, 1, 2}) {
          CaseSpec s;
          s.slices = slices;
          s.total = S;
          s.cp = cp;
          s.chunk = 3;
          s.hq = 2;
          s.hkv = 1;
          s.config.overlap_config.degree = degree;
          s.config.overlap_config.min_chunk_size = 1;
          auto q = testing::random_values(rng, S * s.hq * s.d);
          auto k = testing::random_values(rng, S * s.hkv * s.d);
          auto v = testing::random_values(rng, S * s.hkv * s.d);
          auto dout = testing::random_values(rng, S * s.hq * s.d);
          const int64_t row = 31;  // seen by most rows of every mask
          auto& target = poison.tensor == 'q'   ? q
                         : poison.tensor == 'k' ? k
                         : poison.tensor == 'v' ? v
                                                : dout;
          const int64_t heads = poison.tensor == 'q' || poison.tensor == 'o' ? s.hq : s.hkv;
          target[(row * heads) * s.d + 3] = poison.value;
          SCOPED_TRACE(std::string(poison.name) + ", cp " + std::to_string(cp) + ", degree " +
                       std::to_string(degree) + ", mask " + std::to_string(checked / 42));
          const Result ref = single_device(s, q, k, v, dout);
          const Result got = testing::run(s, q, k, v, dout);
          const int64_t nan_rows = expect_same_nonfinite(got.lse, ref.lse, "lse");
          expect_same_nonfinite(got.out, ref.out, "out");
          expect_same_nonfinite(got.dq, ref.dq, "dq");
          expect_same_nonfinite(got.dk, ref.dk, "dk");
          expect_same_nonfinite(got.dv, ref.dv, "dv");
          if (poison.tensor == 'k' && !std::isinf(poison.value)) {
            EXPECT_GT(nan_rows, 0) << "a NaN key must reach the rows that see it";
          }
          if (HasFailure()) return;
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 3 * 7 * 2 * 3);
}

// A NaN in one key row makes exactly the rows whose cells include that key NaN (lse and every
// element of out); every other row stays finite, and no row reports -inf unless it is empty.
TEST(NonFinite, NanKeyReachesExactlyTheRowsThatSeeIt) {
  const int64_t S = 40, key = 17;
  std::mt19937_64 rng(testing::seed(3));
  for (const auto& slices : masks(S)) {
    for (int64_t cp : {1, 2, 4}) {
      CaseSpec s;
      s.slices = slices;
      s.total = S;
      s.cp = cp;
      s.chunk = 2;
      s.hq = 2;
      s.hkv = 2;
      const auto q = testing::random_values(rng, S * s.hq * s.d);
      auto k = testing::random_values(rng, S * s.hkv * s.d);
      const auto v = testing::random_values(rng, S * s.hkv * s.d);
      const auto dout = testing::random_values(rng, S * s.hq * s.d);
      k[(key * s.hkv + 1) * s.d] = kNaN;  // kv head 1: query head 1 only
      const Result got = testing::run(s, q, k, v, dout);
      const auto mask = testing::dense_mask(s.slices, S, S);
      SCOPED_TRACE("cp " + std::to_string(cp));
      for (int64_t i = 0; i < S; ++i) {
        bool any = false;
        for (int64_t j = 0; j < S; ++j) any |= mask[i * S + j] != 0;
        for (int64_t h = 0; h < s.hq; ++h) {
          const double l = got.lse[i * s.hq + h];
          const bool sees = h == 1 && mask[i * S + key];
          if (sees) {
            EXPECT_TRUE(std::isnan(l)) << "row " << i << " head " << h << ": lse " << l;
            for (int64_t e = 0; e < s.d; ++e) {
              EXPECT_TRUE(std::isnan(got.out[(i * s.hq + h) * s.d + e])) << "row " << i;
            }
          } else if (any) {
            EXPECT_TRUE(std::isfinite(l)) << "row " << i << " head " << h << ": lse " << l;
          } else {
            EXPECT_EQ(l, -kInf) << "row " << i;
          }
        }
      }
      if (HasFailure()) return;
    }
  }
}

}  // namespace
}  // namespace magi
