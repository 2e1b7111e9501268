#include "bench_check.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace magi::cli {
namespace {

/// Whether the cell (query row i, key row j) belongs to slice s (mask.h's definitions).
bool in_slice(const AttnSlice& s, int64_t i, int64_t j) {
  if (!s.q.contains(i) || !s.k.contains(j)) return false;
  const int64_t ri = i - s.q.start, rj = j - s.k.start;
  const bool upper = s.type == AttnMaskType::kCausal || s.type == AttnMaskType::kBiCausal;
  const bool lower = s.type == AttnMaskType::kInvCausal || s.type == AttnMaskType::kBiCausal;
  return (!upper || rj <= ri + s.k.size() - s.q.size()) && (!lower || rj >= ri);
}

/// Row errors, each relative to the larger of the row's own max |ref| and a tenth of the max
/// over all rows added (check_results' contract); NaN makes the error +inf.
struct MaxError {
  struct Row {
    double diff, scale;
  };
  std::vector<Row> rows;
  bool nan = false;
  void add(const double* got, const std::vector<double>& ref) {
    Row r{0, 0};
    for (size_t x = 0; x < ref.size(); ++x) {
      nan = nan || std::isnan(got[x]) || std::isnan(ref[x]);
      r.diff = std::max(r.diff, std::abs(got[x] - ref[x]));
      r.scale = std::max(r.scale, std::abs(ref[x]));
    }
    rows.push_back(r);
  }
  /// +inf for a NaN. (Every reference zero, as when each row sees one key and its gradient
  /// cancels exactly: the differences themselves.)
  double value() const {
    if (nan) return INFINITY;
    double all = 0, worst = 0;
    for (const Row& r : rows) all = std::max(all, r.scale);
    const double floor = all > 0 ? 0.1 * all : 1.0;
    for (const Row& r : rows) worst = std::max(worst, r.diff / std::max(r.scale, floor));
    return worst;
  }
};

/// The error of one row vector alone (MaxError over that row).
double row_error(const double* got, const std::vector<double>& ref) {
  MaxError e;
  e.add(got, ref);
  return e.value();
}

/// 0 when the n values are all exactly 0, else +inf (a row or key no cell reaches).
double zero_error(const double* got, int64_t n) {
  return std::all_of(got, got + n, [](double x) { return x == 0; }) ? 0 : INFINITY;
}

double dot(const double* a, const double* b, int64_t n) {
  double s = 0;
  for (int64_t x = 0; x < n; ++x) s += a[x] * b[x];
  return s;
}

}  // namespace

CheckErrors check_tolerance(DType dtype) {
  switch (dtype) {
    case DType::kFloat64:
      return {1e-9, 1e-9, 1e-9, 1e-9, 1e-9};
    case DType::kFloat32:
      return {1e-4, 1e-4, 1e-4, 1e-4, 1e-4};
    default:
      return {2e-2, 2e-3, 5e-2, 5e-2, 5e-2};
  }
}

bool within(const CheckErrors& e, const CheckErrors& t) {
  return e.out <= t.out && e.lse <= t.lse && e.dq <= t.dq && e.dk <= t.dk && e.dv <= t.dv;
}

std::vector<int64_t> check_rows(int64_t seqlen, int64_t n, uint64_t seed) {
  std::vector<int64_t> rows;
  auto add = [&](int64_t r) {
    if (static_cast<int64_t>(rows.size()) < n &&
        std::find(rows.begin(), rows.end(), r) == rows.end())
      rows.push_back(r);
  };
  add(0);
  add(seqlen - 1);
  add(seqlen / 2);
  std::mt19937_64 rng(seed);
  // NOTE: bounded, so that n > seqlen ends (every row is then taken in the end).
  for (int64_t t = 0; static_cast<int64_t>(rows.size()) < std::min(n, seqlen) && t < 64 * n; ++t)
    add(static_cast<int64_t>(rng() % static_cast<uint64_t>(seqlen)));
  for (int64_t r = 0; static_cast<int64_t>(rows.size()) < std::min(n, seqlen); ++r) add(r);
  return rows;
}

void mask_row(std::span<const AttnSlice> slices, int64_t row, int64_t seqlen,
              std::vector<uint8_t>& mask) {
  mask.assign(static_cast<size_t>(seqlen), 0);
  for (const AttnSlice& s : slices) {
    if (!s.q.contains(row)) continue;
    for (int64_t j = s.k.start; j < s.k.end; ++j) mask[j] |= in_slice(s, row, j);
  }
}

DenseRow dense_row(const CheckData& d, const std::vector<uint8_t>& mask, int64_t row,
                   int64_t head) {
  const int64_t S = d.seqlen, hq = d.hq, hkv = d.hkv, hd = d.hd, hdv = d.hdv;
  const int64_t g = head / (hq / hkv);
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  const double* qi = &d.q[(row * hq + head) * hd];
  const double* doi = &d.dout[(row * hq + head) * hdv];
  std::vector<double> s(S, -INFINITY);
  double mx = -INFINITY;
  for (int64_t j = 0; j < S; ++j) {
    if (!mask[j]) continue;
    s[j] = scale * dot(qi, &d.k[(j * hkv + g) * hd], hd);
    mx = std::max(mx, s[j]);
  }
  DenseRow r;
  if (mx == -INFINITY) return r;
  double sum = 0;
  for (int64_t j = 0; j < S; ++j) sum += mask[j] ? std::exp(s[j] - mx) : 0.0;
  r.lse = mx + std::log(sum);
  r.out.assign(hdv, 0.0);
  r.dq.assign(hd, 0.0);
  std::vector<double> dp(S, 0.0);
  for (int64_t j = 0; j < S; ++j) {
    if (!mask[j]) continue;
    s[j] = std::exp(s[j] - r.lse);  // now P
    const double* vj = &d.v[(j * hkv + g) * hdv];
    for (int64_t x = 0; x < hdv; ++x) r.out[x] += s[j] * vj[x];
    dp[j] = dot(doi, vj, hdv);
  }
  const double delta = dot(doi, r.out.data(), hdv);
  for (int64_t j = 0; j < S; ++j) {
    if (!mask[j]) continue;
    const double* kj = &d.k[(j * hkv + g) * hd];
    for (int64_t x = 0; x < hd; ++x) r.dq[x] += s[j] * (dp[j] - delta) * scale * kj[x];
  }
  return r;
}

CheckErrors check_results(const CheckData& d, std::span<const AttnSlice> slices,
                          std::span<const int64_t> rows, std::span<const int64_t> keys) {
  const int64_t S = d.seqlen, hq = d.hq, hkv = d.hkv, hd = d.hd, hdv = d.hdv, group = hq / hkv;
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  const bool grads = !d.dq.empty();
  CheckErrors err;
  auto worst = [](double& e, double x) { e = std::isnan(x) ? INFINITY : std::max(e, x); };
  MaxError dq_err, dk_err, dv_err;  // over every sampled row (see check_results' contract)
  std::vector<uint8_t> mask(S);

  // Query rows: out, lse and dq from this row's own softmax.
  for (const int64_t i : rows) {
    mask_row(slices, i, S, mask);
    for (int64_t h = 0; h < hq; ++h) {
      const double got_lse = d.lse[i * hq + h];
      const DenseRow ref = dense_row(d, mask, i, h);
      if (ref.out.empty()) {  // no cell: out = 0, lse = -inf, dq = 0 exactly
        worst(err.lse, got_lse == -INFINITY ? 0.0 : INFINITY);
        worst(err.out, zero_error(&d.out[(i * hq + h) * hdv], hdv));
        if (grads) worst(err.dq, zero_error(&d.dq[(i * hq + h) * hd], hd));
        continue;
      }
      worst(err.lse, std::isnan(got_lse) ? INFINITY : std::abs(got_lse - ref.lse));
      worst(err.out, row_error(&d.out[(i * hq + h) * hdv], ref.out));
      if (grads) dq_err.add(&d.dq[(i * hq + h) * hd], ref.dq);
    }
  }

  // Key rows: dk and dv summed over the query rows (and query heads) that see them, with the
  // kernels' lse and out.
  for (const int64_t j : grads ? keys : std::span<const int64_t>{}) {
    std::fill(mask.begin(), mask.end(), 0);
    for (const AttnSlice& s : slices) {
      if (!s.k.contains(j)) continue;
      for (int64_t i = s.q.start; i < s.q.end; ++i) mask[i] |= in_slice(s, i, j);
    }
    const bool seen = std::any_of(mask.begin(), mask.end(), [](uint8_t c) { return c != 0; });
    for (int64_t g = 0; g < hkv; ++g) {
      const double* kj = &d.k[(j * hkv + g) * hd];
      const double* vj = &d.v[(j * hkv + g) * hdv];
      std::vector<double> dk(hd, 0.0), dv(hdv, 0.0);
      for (int64_t i = 0; i < S; ++i) {
        if (!mask[i]) continue;
        for (int64_t h = g * group; h < (g + 1) * group; ++h) {
          const double* qi = &d.q[(i * hq + h) * hd];
          const double* doi = &d.dout[(i * hq + h) * hdv];
          const double p = std::exp(scale * dot(qi, kj, hd) - d.lse[i * hq + h]);
          const double delta = dot(doi, &d.out[(i * hq + h) * hdv], hdv);
          const double ds = p * (dot(doi, vj, hdv) - delta) * scale;
          for (int64_t x = 0; x < hdv; ++x) dv[x] += p * doi[x];
          for (int64_t x = 0; x < hd; ++x) dk[x] += ds * qi[x];
        }
      }
      if (seen) {
        dk_err.add(&d.dk[(j * hkv + g) * hd], dk);
        dv_err.add(&d.dv[(j * hkv + g) * hdv], dv);
      } else {
        worst(err.dk, zero_error(&d.dk[(j * hkv + g) * hd], hd));
        worst(err.dv, zero_error(&d.dv[(j * hkv + g) * hdv], hdv));
      }
    }
  }
  worst(err.dq, dq_err.value());
  worst(err.dk, dk_err.value());
  worst(err.dv, dv_err.value());
  return err;
}

}  // namespace magi::cli
