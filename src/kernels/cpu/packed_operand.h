// Key-side operands (K, V) converted once per call into the accumulation type, one
// contiguous, zero-padded block per kv head, in the layouts panel_kernels.h expects.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/cpu/convert.h"
#include "kernels/cpu/panel_kernels.h"
#include "kernels/cpu/parallel.h"
#include "magi/tensor.h"

namespace magi::cpu {

/// One operand converted to Acc, zero-padded, one contiguous block of head_size per kv head.
template <typename Acc>
struct Packed {
  std::vector<Acc> data;
  int64_t head_size = 0;  // elements per head
  int64_t ld = 0;         // row-major layout: elements per key row, pad_lanes(D)

  const Acc* head(int64_t h) const { return data.data() + h * head_size; }
};

/// t [S, H, D] -> per head [S][pad_lanes(D)], row-major (b in panel_kernels.h).
template <typename Acc>
Packed<Acc> pack_rows(const TensorView& t, int threads) {
  const int64_t s = t.shape[0], heads = t.shape[1], d = t.shape[2];
  Packed<Acc> p;
  p.ld = pad_lanes<Acc>(d);
  p.head_size = s * p.ld;
  p.data.assign(static_cast<size_t>(heads * p.head_size), Acc{0});
  parallel_for(heads, threads, [&](int64_t h) {
    Acc* dst = p.data.data() + h * p.head_size;
    for (int64_t j = 0; j < s; ++j) load_row(element_ptr(t, j, h), t.dtype, d, dst + j * p.ld);
  });
  return p;
}

/// t [S, H, D] -> per head key blocks [ceil(S / W)][D][W], W = kLanes (bt in panel_kernels.h).
template <typename Acc>
Packed<Acc> pack_key_blocks(const TensorView& t, int threads) {
  constexpr int64_t W = kLanes<Acc>;
  const int64_t s = t.shape[0], heads = t.shape[1], d = t.shape[2];
  Packed<Acc> p;
  p.head_size = (s + W - 1) / W * d * W;
  p.data.assign(static_cast<size_t>(heads * p.head_size), Acc{0});
  parallel_for(heads, threads, [&](int64_t h) {
    Acc* dst = p.data.data() + h * p.head_size;
    std::vector<Acc> row(static_cast<size_t>(d));
    for (int64_t j = 0; j < s; ++j) {
      load_row(element_ptr(t, j, h), t.dtype, d, row.data());
      Acc* blk = dst + j / W * d * W + j % W;
      for (int64_t e = 0; e < d; ++e) blk[e * W] = row[e];
    }
  });
  return p;
}

/// Per head: true when every element of the packed operand is finite (the padding is zero).
template <typename Acc>
std::vector<bool> heads_finite(const Packed<Acc>& p, int64_t heads) {
  std::vector<bool> out(static_cast<size_t>(heads));
  for (int64_t h = 0; h < heads; ++h) {
    const Acc* x = p.head(h);
    bool ok = true;
    for (int64_t i = 0; i < p.head_size; ++i) ok &= std::isfinite(x[i]);
    out[h] = ok;
  }
  return out;
}

}  // namespace magi::cpu
