#include "demo_check.h"

#include <algorithm>
#include <cmath>

#include "bench_check.h"

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
  const int64_t S = in.seqlen, hq = in.hq, hd = in.hd, hdv = in.hdv;
  const CheckData d{in.q, in.k, in.v, in.dout, {}, {}, {}, {}, {}, S, hq, in.hkv, hd, hdv};
  auto err = [](double got, double want) {
    return std::isfinite(got) ? std::abs(got - want) / std::max(1.0, std::abs(want)) : INFINITY;
  };
  double worst = 0;
  std::vector<uint8_t> row_mask;
  for (int64_t t = 0; t < samples; ++t) {
    const int64_t row = static_cast<int64_t>(rng() % S), h = static_cast<int64_t>(rng() % hq);
    mask_row(slices, row, S, row_mask);
    const DenseRow ref = dense_row(d, row_mask, row, h);
    const double got_lse = at(lse, row * hq + h);
    if (ref.out.empty()) {  // no cell: lse = -inf exactly
      worst = std::max(worst, got_lse == ref.lse ? 0.0 : INFINITY);
      continue;
    }
    worst = std::max(worst, err(got_lse, ref.lse));
    for (int64_t x = 0; x < hdv; ++x) {
      worst = std::max(worst, err(at(out, (row * hq + h) * hdv + x), ref.out[x]));
    }
    for (int64_t x = 0; x < hd; ++x) {
      worst = std::max(worst, err(at(dq, (row * hq + h) * hd + x), ref.dq[x]));
    }
  }
  return worst;
}

}  // namespace magi::cli
