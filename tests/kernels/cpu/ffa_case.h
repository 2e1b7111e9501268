// Shared fixtures of the FFA kernel tests: a random attention problem in one dtype with its
// fp64 reference inputs, and the error measures and tolerance rules the tests use.
//
// Tolerance rules (the reference is dense fp64 on the *rounded* inputs, so input quantisation
// is never counted as error):
//   fp64 inputs: max|got - ref| <= 1e-10 * max|ref|   (fp64 accumulation)
//   fp32 inputs: max|got - ref| <= 1e-5  * max|ref|   (fp32 accumulation)
//   bf16 / fp16 inputs: fp32 accumulation as above.
// Storing a result rounds it once more: elementwise |got - ref| <= u * |ref| + tol * max|ref|,
// u = unit roundoff of the storage dtype (2^-8 bf16, 2^-11 fp16, 2^-24 fp32, 2^-53 fp64).
// lse is compared the same way against max(1, max|lse|); rows without keys must be exactly
// out = 0 and lse = -inf.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "magi/ffa.h"
#include "testing/dense_attention.h"
#include "testing/host_tensor.h"
#include "testing/random_mask.h"

namespace magi::testing {

struct AttnCase {
  DenseAttnSpec spec;
  DType dtype = DType::kFloat32;
  std::vector<AttnSlice> slices;
  std::vector<uint8_t> mask;          // [sq, sk] union of the slices
  std::vector<double> q, k, v, dout;  // the inputs as stored in `dtype`
  HostTensor tq, tk, tv, tdout;

  FfaOptions opts() const { return {spec.softmax_scale, spec.softcap, nullptr}; }
  std::string describe() const {
    std::string s = std::string(to_string(dtype)) + " sq=" + std::to_string(spec.sq) +
                    " sk=" + std::to_string(spec.sk) + " hq=" + std::to_string(spec.hq) +
                    " hkv=" + std::to_string(spec.hkv) + " d=" + std::to_string(spec.d) +
                    " dv=" + std::to_string(spec.vd()) +
                    " scale=" + std::to_string(spec.softmax_scale) +
                    " softcap=" + std::to_string(spec.softcap) + " slices:";
    for (const AttnSlice& sl : slices) s += " " + to_string(sl);
    return s;
  }
};

/// Random q, k, v, dout in [-1, 1) stored in `dtype` (with `pad` elements of padding behind
/// each head row, giving non-contiguous leading strides).
inline AttnCase make_case(std::mt19937_64& rng, DType dtype, const DenseAttnSpec& spec,
                          std::vector<AttnSlice> slices, int64_t pad = 0) {
  AttnCase c;
  c.spec = spec;
  c.dtype = dtype;
  c.slices = std::move(slices);
  c.mask = dense_mask(c.slices, spec.sq, spec.sk);
  auto make = [&](HostTensor& t, std::vector<double>& vals, int64_t rows, int64_t heads,
                  int64_t d) {
    t = HostTensor(dtype, {rows, heads, d}, pad);
    t.set(random_values(rng, rows * heads * d));
    vals = t.get();
  };
  make(c.tq, c.q, spec.sq, spec.hq, spec.d);
  make(c.tk, c.k, spec.sk, spec.hkv, spec.d);
  make(c.tv, c.v, spec.sk, spec.hkv, spec.vd());
  make(c.tdout, c.dout, spec.sq, spec.hq, spec.vd());
  return c;
}

/// A random problem: sizes up to `max_len`, GQA group 1/2/4, a value head dim of its own,
/// softcap and custom scale at random, masks from random_slices or (for self-attention)
/// random_varlen_slices.
inline AttnCase random_case(std::mt19937_64& rng, DType dtype, int64_t max_len = 40) {
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  DenseAttnSpec s;
  s.sq = pick(1, max_len);
  s.sk = pick(0, 1) ? s.sq : pick(1, max_len);
  s.hkv = pick(1, 2);
  s.hq = s.hkv * (int64_t{1} << pick(0, 2));
  const int64_t dims[] = {1, 8, 16, 24, 64, 128};
  s.d = dims[pick(0, 5)];
  if (pick(0, 2) == 0) s.dv = dims[pick(0, 5)];  // a value head dim apart from q / k's (MLA)
  s.softmax_scale = pick(0, 2) == 0 ? 0.4 + 0.1 * double(pick(0, 10)) : 0.0;
  s.softcap = pick(0, 2) == 0 ? 0.5 + 0.5 * double(pick(0, 4)) : 0.0;
  std::vector<AttnSlice> slices = s.sq == s.sk && pick(0, 2) == 0
                                      ? random_varlen_slices(rng, s.sq)
                                      : random_slices(rng, s.sq, s.sk, 6);
  return make_case(rng, dtype, s, std::move(slices), pick(0, 3) == 0 ? 3 : 0);
}

inline double max_abs(const std::vector<double>& a) {
  double m = 0;
  for (double x : a) {
    if (std::isfinite(x)) m = std::max(m, std::abs(x));
  }
  return m;
}

/// Unit roundoff of a storage dtype.
inline double unit_roundoff(DType t) {
  switch (t) {
    case DType::kBFloat16:
      return std::ldexp(1.0, -8);
    case DType::kFloat16:
      return std::ldexp(1.0, -11);
    case DType::kFloat32:
      return std::ldexp(1.0, -24);
    case DType::kFloat64:
      return std::ldexp(1.0, -53);
    default:
      return 0.0;
  }
}

/// Accumulation tolerance relative to max|ref| for inputs of `dtype`.
inline double accum_tolerance(DType dtype) { return dtype == DType::kFloat64 ? 1e-10 : 1e-5; }

/// Checks got against ref under the rules above; `storage` is the dtype `got` was stored in
/// (adds u * |ref| per element), `floor` the least scale for the relative measure. Infinite
/// reference entries must match exactly. Returns the worst error relative to the scale.
inline double expect_close(const std::vector<double>& got, const std::vector<double>& ref,
                           DType inputs, DType storage, const std::string& what,
                           double floor = 0.0) {
  EXPECT_EQ(got.size(), ref.size()) << what;
  const double scale = std::max(max_abs(ref), floor);
  const double tol = accum_tolerance(inputs);
  const double u = unit_roundoff(storage);
  double worst = 0;
  for (size_t i = 0; i < std::min(got.size(), ref.size()); ++i) {
    if (std::isinf(ref[i])) {
      EXPECT_EQ(got[i], ref[i]) << what << " at " << i;
      continue;
    }
    EXPECT_FALSE(std::isnan(got[i])) << what << " at " << i;
    const double err = std::abs(got[i] - ref[i]);
    if (err > u * std::abs(ref[i]) + tol * scale) {
      ADD_FAILURE() << what << " at " << i << ": got " << got[i] << ", want " << ref[i]
                    << " (error " << err << ", scale " << scale << ")";
      return err / scale;
    }
    if (scale > 0) worst = std::max(worst, err / scale);
  }
  return worst;
}

}  // namespace magi::testing
