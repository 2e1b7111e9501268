// Test oracle: dense attention in fp64 over a materialised 0/1 mask (testing::dense_mask), by
// the textbook formulas, independent of the kernels' tiling, row intervals and merge logic.
//
// Layouts (row-major): q [sq, hq, d], k [sk, hkv, d], v [sk, hkv, dv], out/dout [sq, hq, dv],
// lse [sq, hq], mask [sq, sk]. Query head h reads kv head h / (hq / hkv).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace magi::testing {

struct DenseAttnSpec {
  int64_t sq = 0, sk = 0, hq = 1, hkv = 1, d = 1;
  double softmax_scale = 0.0;  // 0 means d ** -0.5
  double softcap = 0.0;        // 0 means none
  int64_t dv = 0;              // v's head dim; 0 means d

  double scale() const { return softmax_scale != 0.0 ? softmax_scale : 1.0 / std::sqrt(double(d)); }
  int64_t vd() const { return dv != 0 ? dv : d; }
};

struct DenseForward {
  std::vector<double> out;  // [sq, hq, dv]; 0 on rows without keys
  std::vector<double> lse;  // [sq, hq]; -inf on rows without keys
};

struct DenseGrads {
  std::vector<double> dq, dk, dv;
  // The same sums over the terms' magnitudes (|dS| from |dP| + |Delta|, dP and Delta as sums of
  // |products|): what a kernel's rounding scales with where the terms cancel (dP against
  // Delta; dO's signs across the rows of dV).
  std::vector<double> dq_mag, dk_mag, dv_mag;
};

/// The rounding a kernel may add to each gradient entry where its terms cancel: a worst case of
/// n u of the terms' magnitudes (dq_mag, dk_mag, dv_mag), n the longest chains of sums behind an
/// entry (a score's d, dP's dv, a key's rows, a row's keys), u the unit roundoff of the kernel's
/// arithmetic (fp64 for fp64 inputs, else fp32). A wrong cell moves a gradient by a fraction of
/// its magnitude, far above this.
struct GradSlack {
  std::vector<double> dq, dk, dv;
};

inline GradSlack cancel_slack(const DenseAttnSpec& s, const DenseGrads& g, bool fp64_inputs) {
  const double u = fp64_inputs ? 0x1p-53 : 0x1p-24;
  const double n = double(s.d + s.vd() + s.sq * (s.hq / s.hkv) + s.sk);
  auto scaled = [&](const std::vector<double>& mag) {
    std::vector<double> out(mag.size());
    for (size_t i = 0; i < mag.size(); ++i) out[i] = n * u * mag[i];
    return out;
  };
  return {scaled(g.dq_mag), scaled(g.dk_mag), scaled(g.dv_mag)};
}

namespace detail {

/// Capped score of (row i, head h, key j) and d(capped)/d(raw).
inline void dense_score(const DenseAttnSpec& s, const std::vector<double>& q,
                        const std::vector<double>& k, int64_t i, int64_t h, int64_t j,
                        double* score, double* deriv) {
  const int64_t g = h / (s.hq / s.hkv);
  double dot = 0;
  for (int64_t e = 0; e < s.d; ++e)
    dot += q[(i * s.hq + h) * s.d + e] * k[(j * s.hkv + g) * s.d + e];
  const double raw = s.scale() * dot;
  *score = raw;
  *deriv = 1.0;
  if (s.softcap > 0) {
    const double t = std::tanh(raw / s.softcap);
    *score = s.softcap * t;
    *deriv = 1.0 - t * t;
  }
}

/// Softmax probabilities of row (i, h) over its masked keys; empty when the row has none.
inline std::vector<double> dense_probs(const DenseAttnSpec& s, const std::vector<double>& q,
                                       const std::vector<double>& k,
                                       const std::vector<uint8_t>& mask, int64_t i, int64_t h,
                                       double* lse, std::vector<double>* derivs) {
  std::vector<double> sc(s.sk, 0.0), p(s.sk, 0.0);
  derivs->assign(s.sk, 0.0);
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < s.sk; ++j) {
    if (!mask[i * s.sk + j]) continue;
    dense_score(s, q, k, i, h, j, &sc[j], &(*derivs)[j]);
    m = std::max(m, sc[j]);
  }
  *lse = m;
  if (m == -std::numeric_limits<double>::infinity()) return {};
  double sum = 0;
  for (int64_t j = 0; j < s.sk; ++j) {
    if (mask[i * s.sk + j]) sum += (p[j] = std::exp(sc[j] - m));
  }
  for (double& x : p) x /= sum;
  *lse = m + std::log(sum);
  return p;
}

}  // namespace detail

inline DenseForward dense_forward(const DenseAttnSpec& s, const std::vector<double>& q,
                                  const std::vector<double>& k, const std::vector<double>& v,
                                  const std::vector<uint8_t>& mask) {
  const int64_t dv = s.vd();
  DenseForward f{std::vector<double>(s.sq * s.hq * dv, 0.0), std::vector<double>(s.sq * s.hq)};
  std::vector<double> derivs;
  for (int64_t i = 0; i < s.sq; ++i) {
    for (int64_t h = 0; h < s.hq; ++h) {
      const int64_t g = h / (s.hq / s.hkv);
      const std::vector<double> p =
          detail::dense_probs(s, q, k, mask, i, h, &f.lse[i * s.hq + h], &derivs);
      for (size_t j = 0; j < p.size(); ++j) {
        for (int64_t e = 0; e < dv; ++e)
          f.out[(i * s.hq + h) * dv + e] += p[j] * v[(j * s.hkv + g) * dv + e];
      }
    }
  }
  return f;
}

/// Gradients of sum(out * dout) for the attention above (rows without keys give none), with
/// Delta_i = sum_j P_ij dP_ij. When `out_for_delta` is given, Delta_i = sum_e dout_ie out_ie
/// from that output instead (equal in exact arithmetic): what a kernel computes when it is fed
/// a rounded output.
inline DenseGrads dense_backward(const DenseAttnSpec& s, const std::vector<double>& q,
                                 const std::vector<double>& k, const std::vector<double>& v,
                                 const std::vector<double>& dout, const std::vector<uint8_t>& mask,
                                 const std::vector<double>* out_for_delta = nullptr) {
  DenseGrads gr{std::vector<double>(q.size(), 0.0), std::vector<double>(k.size(), 0.0),
                std::vector<double>(v.size(), 0.0), std::vector<double>(q.size(), 0.0),
                std::vector<double>(k.size(), 0.0), std::vector<double>(v.size(), 0.0)};
  std::vector<double> derivs;
  const int64_t dv = s.vd();
  for (int64_t i = 0; i < s.sq; ++i) {
    for (int64_t h = 0; h < s.hq; ++h) {
      const int64_t g = h / (s.hq / s.hkv);
      double lse;
      const std::vector<double> p = detail::dense_probs(s, q, k, mask, i, h, &lse, &derivs);
      if (p.empty()) continue;
      const double* dorow = &dout[(i * s.hq + h) * dv];
      std::vector<double> dp(s.sk, 0.0), dp_mag(s.sk, 0.0);
      double rowsum = 0, rowsum_mag = 0;  // Delta_i
      for (int64_t j = 0; j < s.sk; ++j) {
        for (int64_t e = 0; e < dv; ++e) {
          const double x = dorow[e] * v[(j * s.hkv + g) * dv + e];
          dp[j] += x;
          dp_mag[j] += std::abs(x);
        }
        rowsum += p[j] * dp[j];
        rowsum_mag += p[j] * dp_mag[j];
      }
      if (out_for_delta) {
        rowsum = rowsum_mag = 0;
        for (int64_t e = 0; e < dv; ++e) {
          const double x = dorow[e] * (*out_for_delta)[(i * s.hq + h) * dv + e];
          rowsum += x;
          rowsum_mag += std::abs(x);
        }
      }
      for (int64_t j = 0; j < s.sk; ++j) {
        if (!mask[i * s.sk + j]) continue;
        const double ds = p[j] * (dp[j] - rowsum) * derivs[j] * s.scale();
        const double ds_mag = p[j] * (dp_mag[j] + rowsum_mag) * std::abs(derivs[j] * s.scale());
        for (int64_t e = 0; e < dv; ++e) {
          gr.dv[(j * s.hkv + g) * dv + e] += p[j] * dorow[e];
          gr.dv_mag[(j * s.hkv + g) * dv + e] += p[j] * std::abs(dorow[e]);
        }
        for (int64_t e = 0; e < s.d; ++e) {
          const int64_t qe = (i * s.hq + h) * s.d + e, ke = (j * s.hkv + g) * s.d + e;
          gr.dq[qe] += ds * k[ke];
          gr.dk[ke] += ds * q[qe];
          gr.dq_mag[qe] += ds_mag * std::abs(k[ke]);
          gr.dk_mag[ke] += ds_mag * std::abs(q[qe]);
        }
      }
    }
  }
  return gr;
}

}  // namespace magi::testing
