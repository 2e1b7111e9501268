#include "demo_check.h"

#include <algorithm>
#include <cmath>

namespace magi::cli {

Tensor make_tensor(DType dtype, std::initializer_list<int64_t> shape,
                   const std::vector<double>& values) {
  Tensor t;
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  t.raw.resize(static_cast<size_t>(n) * dtype_size(dtype));
  t.view = TensorView::contiguous(t.raw.data(), dtype, shape);
  for (int64_t i = 0; i < n && !values.empty(); ++i) {
    if (dtype == DType::kFloat64)
      reinterpret_cast<double*>(t.raw.data())[i] = values[i];
    else
      reinterpret_cast<float*>(t.raw.data())[i] = static_cast<float>(values[i]);
  }
  return t;
}

double at(const Tensor& t, int64_t i) {
  return t.view.dtype == DType::kFloat64 ? reinterpret_cast<const double*>(t.raw.data())[i]
                                         : reinterpret_cast<const float*>(t.raw.data())[i];
}

double scaled_err(const Tensor& got, const Tensor& ref) {
  double num = 0, den = 1;
  for (int64_t i = 0; i < ref.view.numel(); ++i) {
    const double x = at(got, i), y = at(ref, i);
    if (!std::isfinite(y) || !std::isfinite(x)) {
      if (x != y) return INFINITY;
      continue;
    }
    num = std::max(num, std::abs(x - y));
    den = std::max(den, std::abs(y));
  }
  return num / den;
}

double dense_check(const DenseInputs& in, const std::vector<AttnSlice>& slices, const Tensor& out,
                   const Tensor& lse, const Tensor& dq, int64_t samples, std::mt19937_64& rng) {
  const int64_t S = in.seqlen, hq = in.hq, hkv = in.hkv, hd = in.hd, hdv = in.hdv;
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  auto err = [](double got, double want) {
    return std::isfinite(got) ? std::abs(got - want) / std::max(1.0, std::abs(want)) : INFINITY;
  };
  double worst = 0;
  std::vector<uint8_t> row_mask(S);
  for (int64_t t = 0; t < samples; ++t) {
    const int64_t row = static_cast<int64_t>(rng() % S), h = static_cast<int64_t>(rng() % hq);
    const int64_t g = h / (hq / hkv);
    std::fill(row_mask.begin(), row_mask.end(), 0);
    for (const AttnSlice& s : slices) {
      if (!s.q.contains(row)) continue;
      const int64_t i = row - s.q.start, sq = s.q.size(), sk = s.k.size();
      for (int64_t j = 0; j < sk; ++j) {
        const bool up = s.type == AttnMaskType::kCausal || s.type == AttnMaskType::kBiCausal;
        const bool lo = s.type == AttnMaskType::kInvCausal || s.type == AttnMaskType::kBiCausal;
        if ((!up || j <= i + sk - sq) && (!lo || j >= i)) row_mask[s.k.start + j] = 1;
      }
    }
    const double* qr = &in.q[(row * hq + h) * hd];
    const double* dor = &in.dout[(row * hq + h) * hdv];
    std::vector<double> p(S, 0.0);
    double mx = -INFINITY;
    for (int64_t c = 0; c < S; ++c) {
      if (!row_mask[c]) continue;
      double dot = 0;
      for (int64_t x = 0; x < hd; ++x) dot += qr[x] * in.k[(c * hkv + g) * hd + x];
      p[c] = dot * scale;
      mx = std::max(mx, p[c]);
    }
    double sum = 0;
    for (int64_t c = 0; c < S; ++c) sum += row_mask[c] ? std::exp(p[c] - mx) : 0.0;
    const double ref_lse = sum > 0 ? mx + std::log(sum) : -INFINITY;
    const double got_lse = at(lse, row * hq + h);
    if (std::isinf(ref_lse)) {
      worst = std::max(worst, got_lse == ref_lse ? 0.0 : INFINITY);
      continue;
    }
    worst = std::max(worst, err(got_lse, ref_lse));
    std::vector<double> o(hdv, 0.0), dq_ref(hd, 0.0), dp(S, 0.0);
    for (int64_t c = 0; c < S; ++c) {
      if (!row_mask[c]) continue;
      p[c] = std::exp(p[c] - ref_lse);
      for (int64_t x = 0; x < hdv; ++x) {
        o[x] += p[c] * in.v[(c * hkv + g) * hdv + x];
        dp[c] += dor[x] * in.v[(c * hkv + g) * hdv + x];
      }
    }
    double dsum = 0;  // rowsum(dO * O), from this row's own out
    for (int64_t x = 0; x < hdv; ++x) dsum += dor[x] * o[x];
    for (int64_t c = 0; c < S; ++c) {
      if (!row_mask[c]) continue;
      for (int64_t x = 0; x < hd; ++x)
        dq_ref[x] += p[c] * (dp[c] - dsum) * scale * in.k[(c * hkv + g) * hd + x];
    }
    for (int64_t x = 0; x < hdv; ++x) {
      worst = std::max(worst, err(at(out, (row * hq + h) * hdv + x), o[x]));
    }
    for (int64_t x = 0; x < hd; ++x) {
      worst = std::max(worst, err(at(dq, (row * hq + h) * hd + x), dq_ref[x]));
    }
  }
  return worst;
}

}  // namespace magi::cli
