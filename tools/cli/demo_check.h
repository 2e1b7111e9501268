// The demo's checks: the error measure, and textbook dense attention on sampled rows.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "magi/mask.h"
#include "magi/tensor.h"

namespace magi::cli {

/// A host tensor with its storage.
struct Tensor {
  std::vector<std::byte> raw;
  TensorView view;
};

/// A contiguous tensor of `dtype` (float32 or float64) holding `values` converted, or zeros when
/// values is empty.
Tensor make_tensor(DType dtype, std::initializer_list<int64_t> shape,
                   const std::vector<double>& values);

/// Element i of a float32 or float64 tensor.
double at(const Tensor& t, int64_t i);

/// max |got - ref| / max(1, max |ref|): absolute error for results near zero (a gradient whose
/// exact value is 0), relative error for large ones. Non-finite reference entries (lse = -inf
/// of an empty row) must match exactly; a NaN in `got` elsewhere gives +inf.
double scaled_err(const Tensor& got, const Tensor& ref);

struct DenseInputs {
  const std::vector<double>& q;     // [S, hq, hd]
  const std::vector<double>& k;     // [S, hkv, hd]
  const std::vector<double>& v;     // [S, hkv, hdv]
  const std::vector<double>& dout;  // [S, hq, hdv]
  int64_t seqlen, hq, hkv, hd, hdv;
};

/// Worst scaled error of out, lse and dq against textbook dense attention (bench_check.h's
/// dense_row: materialised mask row, softmax, float64; no code shared with the kernels) on
/// `samples` random (row, head) pairs.
double dense_check(const DenseInputs& in, const std::vector<AttnSlice>& slices, const Tensor& out,
                   const Tensor& lse, const Tensor& dq, int64_t samples, std::mt19937_64& rng);

}  // namespace magi::cli
