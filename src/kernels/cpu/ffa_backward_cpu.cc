// CPU FFA backward from the final out and lse:
//   Delta = rowsum(dO * O), P = exp(score - lse), dV += P^T dO, dP = dO V^T,
//   dS = P * (dP - Delta) (times the softcap derivative), dQ += scale dS K, dK += scale dS^T Q.
//
// Work item = (kv head, part of the rows). Each item owns private dK/dV buffers over the key
// hull of its rows; items are cut from the mask alone (equal cells per part), and the buffers
// are summed into dk/dv in a fixed order, so the result does not depend on the thread count.
//
// Non-finite values (DESIGN.md §6): a row with lse = NaN (its scores held a NaN) gets NaN
// gradients on its cells, as does anything multiplied by a NaN or infinite input on a cell; a
// row with lse = -inf has no weight and contributes nothing. A block's panels also pair rows
// with the keys of the other rows (masked columns, weight 0), where 0 * NaN would reach
// gradients that do not depend on the NaN. Blocks with a non-finite input (q, dO, out, lse of
// a live row, or K / V of the kv head) are therefore computed one row at a time: a single
// device and the CP ranks then agree on every NaN.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/convert.h"
#include "kernels/cpu/ffa_cpu.h"
#include "kernels/cpu/packed_operand.h"
#include "kernels/cpu/panel_kernels.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/row_keys.h"
#include "kernels/cpu/row_softmax.h"

namespace magi::cpu {
namespace {

constexpr int64_t kTargetItems = 16;      // work items over all kv heads (fixed: determinism)
constexpr int64_t kMinRowsPerPart = 256;  // smaller parts cost more in dK/dV buffers
constexpr double kMinFlopsPerThread = 1 << 22;

struct BackwardArgs {
  const TensorView& q;
  const TensorView& out;
  const TensorView& lse;
  const TensorView& dout;
  const TensorView& dq;
};

/// The rows of one work item and its private dK/dV accumulators over keys [hull).
template <typename Acc>
struct Part {
  int64_t g = 0;
  AttnRange rows;
  AttnRange hull;
  std::vector<Acc> dk, dv;  // [hull.size(), dpq] and [hull.size(), dpv]
};

/// Scratch reused by the blocks of one work item.
template <typename Acc>
struct BackwardScratch {
  BlockCols cols;
  std::vector<Acc> qb, dqb;       // [kBlockRows, dpq] scaled q, dQ partial
  std::vector<Acc> dob;           // [kBlockRows, dpv] dO
  std::vector<Acc> p, ds, deriv;  // [kBlockRows, lds] P, dP then dS, softcap derivative
  std::vector<Acc> orow;          // [dv]
  std::vector<double> dq_row;     // [d]
  int64_t lds = 0;

  /// dpq, dpv: q's and v's head dims padded (pad_lanes).
  BackwardScratch(const AttnDims& dims, int64_t dpq, int64_t dpv)
      : qb(kBlockRows * dpq),
        dqb(kBlockRows * dpq),
        dob(kBlockRows * dpv),
        orow(dims.dv),
        dq_row(dims.d) {
    lds = pad_lanes<Acc>(dims.sk + kLanes<Acc>);
    p.resize(static_cast<size_t>(kBlockRows * lds));
    ds.resize(p.size());
    if (dims.softcap > 0) deriv.resize(p.size());
  }
};

template <typename Acc>
struct Operands {
  Packed<Acc> kt, vt, kr;    // K and V in key blocks (bt), K row-major (b): panel_kernels.h
  int64_t dpq = 0, dpv = 0;  // q / k's and v's head dims padded (pad_lanes)
};

template <typename Acc>
bool all_finite(const Acc* x, int64_t n) {
  bool ok = true;
  for (int64_t i = 0; i < n; ++i) ok &= std::isfinite(x[i]);
  return ok;
}

/// Rows [row0, row0 + n) of query head h, n <= kBlockRows; `finite_kv`: K and V of the head's
/// kv head are finite.
template <typename Acc>
void backward_block(const BackwardArgs& a, const AttnDims& dims, const RowKeys& keys,
                    const Operands<Acc>& ops, int64_t h, int64_t row0, int n, bool finite_kv,
                    Part<Acc>& part, BackwardScratch<Acc>& w) {
  const int64_t d = dims.d, dv = dims.dv, dpq = ops.dpq, dpv = ops.dpv, g = part.g;
  w.cols.build(keys, row0, n);
  const int64_t cols = w.cols.cols();
  if (cols == 0) return;
  const auto segs = w.cols.segments();

  Acc delta[kBlockRows] = {}, lse[kBlockRows] = {};
  bool live[kBlockRows] = {};
  bool finite = finite_kv;
  std::fill(w.qb.begin(), w.qb.end(), Acc{0});
  std::fill(w.dob.begin(), w.dob.end(), Acc{0});
  for (int r = 0; r < n; ++r) {
    const int64_t row = row0 + r;
    const double l = load_scalar(a.lse, row, h);
    // NOTE: a row whose lse is -inf holds no probability mass; skipping it keeps
    // exp(score - lse) from producing inf. A NaN lse is live: its gradients are NaN.
    live[r] = !w.cols.row_cols(r).empty() && l != -std::numeric_limits<double>::infinity();
    if (!live[r]) continue;
    lse[r] = static_cast<Acc>(l);
    Acc* qr = w.qb.data() + r * dpq;
    Acc* dor = w.dob.data() + r * dpv;
    load_row(element_ptr(a.q, row, h), a.q.dtype, d, qr);
    for (int64_t e = 0; e < d; ++e) qr[e] *= static_cast<Acc>(dims.scale);
    load_row(element_ptr(a.dout, row, h), a.dout.dtype, dv, dor);
    load_row(element_ptr(a.out, row, h), a.out.dtype, dv, w.orow.data());
    for (int64_t e = 0; e < dv; ++e) delta[r] += dor[e] * w.orow[e];
    finite &= std::isfinite(l) && std::isfinite(delta[r]) && all_finite(qr, d) &&
              all_finite(dor, dv) && all_finite(w.orow.data(), dv);
  }
  if (!finite && n > 1) {
    for (int r = 0; r < n; ++r) {
      backward_block(a, dims, keys, ops, h, row0 + r, 1, finite_kv, part, w);
    }
    return;
  }

  panel_dot(w.qb.data(), dpq, d, ops.kt.head(g), segs, w.p.data(), w.lds);
  panel_dot(w.dob.data(), dpv, dv, ops.vt.head(g), segs, w.ds.data(), w.lds);
  for (int r = 0; r < kBlockRows; ++r) {
    const auto regions = live[r] ? w.cols.row_cols(r) : std::span<const AttnRange>{};
    Acc* pr = w.p.data() + r * w.lds;
    Acc* dsr = w.ds.data() + r * w.lds;
    Acc* dr = w.deriv.empty() ? nullptr : w.deriv.data() + r * w.lds;
    if (dr) softcap_row(pr, regions, static_cast<Acc>(dims.softcap), dr);
    masked_exp(pr, regions, cols, lse[r]);
    softmax_grad_row(pr, dsr, cols, delta[r]);
    if (dr) {
      for (const AttnRange& reg : regions) {
        for (int64_t c = reg.start; c < reg.end; ++c) dsr[c] *= dr[c];
      }
    }
  }

  panel_rank_update(w.p.data(), w.lds, segs, w.dob.data(), dpv, dpv, part.dv.data(), dpv,
                    part.hull.start);
  panel_rank_update(w.ds.data(), w.lds, segs, w.qb.data(), dpq, dpq, part.dk.data(), dpq,
                    part.hull.start);
  std::fill(w.dqb.begin(), w.dqb.end(), Acc{0});
  panel_gemm(w.ds.data(), w.lds, segs, ops.kr.head(g), dpq, dpq, w.dqb.data(), dpq);
  for (int r = 0; r < n; ++r) {
    if (!live[r]) continue;
    void* dst = element_ptr(a.dq, row0 + r, h);
    load_row(dst, a.dq.dtype, d, w.dq_row.data());
    const Acc* src = w.dqb.data() + r * dpq;
    for (int64_t e = 0; e < d; ++e) w.dq_row[e] += dims.scale * static_cast<double>(src[e]);
    store_row(w.dq_row.data(), d, a.dq.dtype, dst);
  }
}

/// Cuts each kv head's rows into parts of about equal cell count.
template <typename Acc>
std::vector<Part<Acc>> make_parts(const AttnDims& dims, const RowKeys& keys) {
  std::vector<int64_t> prefix(static_cast<size_t>(dims.sq) + 1, 0);
  for (int64_t r = 0; r < dims.sq; ++r) prefix[r + 1] = prefix[r] + keys.cells(r);
  const int64_t total = prefix[dims.sq];
  const int64_t parts = std::clamp<int64_t>((kTargetItems + dims.hkv - 1) / dims.hkv, 1,
                                            std::max<int64_t>(1, dims.sq / kMinRowsPerPart));
  std::vector<AttnRange> rows;
  int64_t start = 0;
  for (int64_t i = 1; i <= parts && start < dims.sq; ++i) {
    const int64_t target = total * i / parts;
    int64_t end = i == parts
                      ? dims.sq
                      : std::lower_bound(prefix.begin(), prefix.end(), target) - prefix.begin();
    end = std::clamp<int64_t>(end, start + 1, dims.sq);
    rows.push_back({start, end});
    start = end;
  }
  std::vector<Part<Acc>> out;
  for (int64_t g = 0; g < dims.hkv; ++g) {
    for (const AttnRange& r : rows) {
      AttnRange hull{dims.sk, 0};
      for (int64_t q = r.start; q < r.end; ++q) {
        const auto ks = keys.row(q);
        if (ks.empty()) continue;
        hull.start = std::min(hull.start, ks.front().start);
        hull.end = std::max(hull.end, ks.back().end);
      }
      if (hull.empty()) continue;
      out.push_back({g, r, hull, {}, {}});
    }
  }
  return out;
}

/// dst[j, g, :] += sum over parts of g (in order) of part.buf[j - hull.start, :] (buf: dk or
/// dv, rows of `dp` elements of which the first d, dst's head dim, are used).
template <typename Acc>
void reduce_parts(const std::vector<Part<Acc>>& parts, bool key_grad, const TensorView& dst,
                  const AttnDims& dims, int64_t dp, int threads) {
  const int64_t d = dst.shape[2];
  parallel_for(dims.hkv, threads, [&](int64_t g) {
    std::vector<Acc> sum(static_cast<size_t>(d));
    std::vector<double> row(static_cast<size_t>(d));
    for (int64_t j = 0; j < dims.sk; ++j) {
      bool any = false;
      std::fill(sum.begin(), sum.end(), Acc{0});
      for (const Part<Acc>& p : parts) {
        if (p.g != g || !p.hull.contains(j)) continue;
        any = true;
        const Acc* src = (key_grad ? p.dk : p.dv).data() + (j - p.hull.start) * dp;
        for (int64_t e = 0; e < d; ++e) sum[e] += src[e];
      }
      if (!any) continue;
      void* out = element_ptr(dst, j, g);
      load_row(out, dst.dtype, d, row.data());
      for (int64_t e = 0; e < d; ++e) row[e] += static_cast<double>(sum[e]);
      store_row(row.data(), d, dst.dtype, out);
    }
  });
}

template <typename Acc>
void backward_impl(const BackwardArgs& a, const TensorView& k, const TensorView& v,
                   const AttnDims& dims, const RowKeys& keys, const TensorView& dk,
                   const TensorView& dv) {
  std::vector<Part<Acc>> parts = make_parts<Acc>(dims, keys);
  int64_t cells = 0;
  for (int64_t r = 0; r < dims.sq; ++r) cells += keys.cells(r);
  const int threads =
      threads_for(double(cells) * double(dims.hq * (3 * dims.d + 2 * dims.dv)), kMinFlopsPerThread);
  Operands<Acc> ops{pack_key_blocks<Acc>(k, threads), pack_key_blocks<Acc>(v, threads),
                    pack_rows<Acc>(k, threads), pad_lanes<Acc>(dims.d), pad_lanes<Acc>(dims.dv)};
  const std::vector<bool> k_finite = heads_finite(ops.kr, dims.hkv);
  const std::vector<bool> v_finite = heads_finite(ops.vt, dims.hkv);

  parallel_for(static_cast<int64_t>(parts.size()), threads, [&](int64_t i) {
    Part<Acc>& part = parts[i];
    part.dk.assign(static_cast<size_t>(part.hull.size() * ops.dpq), Acc{0});
    part.dv.assign(static_cast<size_t>(part.hull.size() * ops.dpv), Acc{0});
    BackwardScratch<Acc> w(dims, ops.dpq, ops.dpv);
    const bool finite_kv = k_finite[part.g] && v_finite[part.g];
    for (int64_t h = part.g * dims.group; h < (part.g + 1) * dims.group; ++h) {
      for (int64_t row0 = part.rows.start; row0 < part.rows.end; row0 += kBlockRows) {
        const int n = static_cast<int>(std::min<int64_t>(kBlockRows, part.rows.end - row0));
        backward_block(a, dims, keys, ops, h, row0, n, finite_kv, part, w);
      }
    }
  });
  reduce_parts(parts, true, dk, dims, ops.dpq, threads);
  reduce_parts(parts, false, dv, dims, ops.dpv, threads);
}

}  // namespace

void ffa_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                  const TensorView& out, const TensorView& lse, const TensorView& dout,
                  const RowKeys& keys, const ScoreParams& scores, const TensorView& dq,
                  const TensorView& dk, const TensorView& dv) {
  const AttnDims dims = AttnDims::from(q, k, v, scores);
  const BackwardArgs a{q, out, lse, dout, dq};
  if (q.dtype == DType::kFloat64) {
    backward_impl<double>(a, k, v, dims, keys, dk, dv);
  } else {
    backward_impl<float>(a, k, v, dims, keys, dk, dv);
  }
}

}  // namespace magi::cpu
