// ffa_forward / ffa_backward with an attention sink (src/kernels/sink.cc) against a dense fp64
// reference that puts the sinks into the softmax itself (extra columns with value 0), both
// layouts, GQA, rows without keys, a -inf sink; the accumulate form; the validation errors.
#include "kernels/sink.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "magi/check.h"
#include "magi/ffa.h"
#include "testing/dense_attention.h"
#include "testing/host_tensor.h"
#include "testing/random_mask.h"

namespace magi {
namespace {

using testing::HostTensor;
constexpr double kInf = std::numeric_limits<double>::infinity();

struct Problem {
  int64_t sq = 13, sk = 11, hq = 4, hkv = 2, d = 8, ns = 3;
  SinkLayout layout = SinkLayout::kSH;
  std::vector<AttnSlice> slices;
  std::vector<double> q, k, v, dout, sink;  // sink: [ns, hq] or [sq, ns, hq]

  double sink_at(int64_t r, int64_t s, int64_t h) const {
    return layout == SinkLayout::kSH ? sink[s * hq + h] : sink[(r * ns + s) * hq + h];
  }
  std::vector<int64_t> sink_shape() const {
    if (layout == SinkLayout::kSH) return {ns, hq};
    return {sq, ns, hq};
  }
};

struct Reference {
  std::vector<double> out, lse, dq, dk, dv, dsink;
};

/// Softmax over [masked keys; sinks] per row and head, by the textbook formulas.
Reference reference(const Problem& p) {
  const std::vector<uint8_t> mask = testing::dense_mask(p.slices, p.sq, p.sk);
  const double scale = 1.0 / std::sqrt(double(p.d));
  Reference r{std::vector<double>(p.sq * p.hq * p.d, 0.0), std::vector<double>(p.sq * p.hq),
              std::vector<double>(p.q.size(), 0.0),        std::vector<double>(p.k.size(), 0.0),
              std::vector<double>(p.v.size(), 0.0),        std::vector<double>(p.sink.size(), 0.0)};
  for (int64_t i = 0; i < p.sq; ++i) {
    for (int64_t h = 0; h < p.hq; ++h) {
      const int64_t g = h / (p.hq / p.hkv);
      std::vector<double> s(p.sk + p.ns, -kInf);
      for (int64_t j = 0; j < p.sk; ++j) {
        if (!mask[i * p.sk + j]) continue;
        double dot = 0;
        for (int64_t e = 0; e < p.d; ++e)
          dot += p.q[(i * p.hq + h) * p.d + e] * p.k[(j * p.hkv + g) * p.d + e];
        s[j] = scale * dot;
      }
      for (int64_t t = 0; t < p.ns; ++t) s[p.sk + t] = p.sink_at(i, t, h);
      double mx = -kInf;
      for (double x : s) mx = std::max(mx, x);
      double& lse = r.lse[i * p.hq + h];
      if (mx == -kInf) {
        lse = -kInf;
        continue;
      }
      double sum = 0;
      for (double x : s) sum += std::exp(x - mx);
      lse = mx + std::log(sum);
      std::vector<double> prob(s.size()), dp(s.size(), 0.0);
      for (size_t j = 0; j < s.size(); ++j) prob[j] = std::exp(s[j] - lse);
      const double* go = &p.dout[(i * p.hq + h) * p.d];
      double delta = 0;
      for (int64_t j = 0; j < p.sk; ++j) {
        for (int64_t e = 0; e < p.d; ++e) {
          r.out[(i * p.hq + h) * p.d + e] += prob[j] * p.v[(j * p.hkv + g) * p.d + e];
          dp[j] += go[e] * p.v[(j * p.hkv + g) * p.d + e];
        }
        delta += prob[j] * dp[j];  // the sinks' value is 0: dp = 0 there
      }
      for (int64_t j = 0; j < p.sk + p.ns; ++j) {
        const double ds = prob[j] * (dp[j] - delta);
        if (j >= p.sk) {
          const int64_t t = j - p.sk;
          const int64_t at = p.layout == SinkLayout::kSH ? t * p.hq + h : (i * p.ns + t) * p.hq + h;
          r.dsink[at] += ds;
          continue;
        }
        for (int64_t e = 0; e < p.d; ++e) {
          r.dv[(j * p.hkv + g) * p.d + e] += prob[j] * go[e];
          r.dq[(i * p.hq + h) * p.d + e] += scale * ds * p.k[(j * p.hkv + g) * p.d + e];
          r.dk[(j * p.hkv + g) * p.d + e] += scale * ds * p.q[(i * p.hq + h) * p.d + e];
        }
      }
    }
  }
  return r;
}

Problem make_problem(SinkLayout layout, uint64_t seed) {
  Problem p;
  p.layout = layout;
  // Row 12 has no key (only sinks); causal and full slices; an overlap.
  p.slices = {{{0, 6}, {0, 6}, AttnMaskType::kCausal},
              {{4, 12}, {2, 11}, AttnMaskType::kFull},
              {{5, 9}, {0, 4}, AttnMaskType::kFull}};
  std::mt19937_64 rng(seed);
  p.q = testing::random_values(rng, p.sq * p.hq * p.d);
  p.k = testing::random_values(rng, p.sk * p.hkv * p.d);
  p.v = testing::random_values(rng, p.sk * p.hkv * p.d);
  p.dout = testing::random_values(rng, p.sq * p.hq * p.d);
  const int64_t n = layout == SinkLayout::kSH ? p.ns * p.hq : p.sq * p.ns * p.hq;
  p.sink = testing::random_values(rng, n, -2.0, 2.0);
  for (double& x : p.sink) x = static_cast<float>(x);  // stored as fp32
  p.sink[1] = -kInf;                                   // one sink that is "no sink"
  return p;
}

void expect_near(const std::vector<double>& got, const std::vector<double>& want, double tol,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isinf(want[i])) {
      EXPECT_EQ(got[i], want[i]) << what << "[" << i << "]";
    } else {
      EXPECT_NEAR(got[i], want[i], tol * std::max(1.0, std::abs(want[i])))
          << what << "[" << i << "]";
    }
  }
}

HostTensor tensor(DType t, std::vector<int64_t> shape, const std::vector<double>& values) {
  HostTensor h(t, std::move(shape));
  h.set(values);
  return h;
}

class SinkTest : public ::testing::TestWithParam<SinkLayout> {};

TEST_P(SinkTest, ForwardAndBackwardMatchTheDenseSoftmaxWithSinks) {
  const Problem p = make_problem(GetParam(), 7);
  const Reference want = reference(p);
  const auto f64 = DType::kFloat64;
  const HostTensor q = tensor(f64, {p.sq, p.hq, p.d}, p.q),
                   k = tensor(f64, {p.sk, p.hkv, p.d}, p.k),
                   v = tensor(f64, {p.sk, p.hkv, p.d}, p.v),
                   dout = tensor(f64, {p.sq, p.hq, p.d}, p.dout),
                   sink = tensor(DType::kFloat32, p.sink_shape(), p.sink);
  HostTensor out(f64, {p.sq, p.hq, p.d}), lse(DType::kFloat32, {p.sq, p.hq});
  FfaOptions o;
  o.sink = AttnSink{sink.view(), p.layout};
  ffa_forward(q.view(), k.view(), v.view(), p.slices, o, out.view(), lse.view());
  // lse is fp32 here: the sink's weight exp(lse - lse') carries its rounding into out.
  expect_near(out.get(), want.out, 1e-6, "out");
  expect_near(lse.get(), want.lse, 1e-6, "lse");

  // The backward from the sink-included out and lse (the reference's, in fp64, so that the
  // forward's fp32 lse does not count), into accumulators that already hold values.
  const HostTensor lse64 = tensor(f64, {p.sq, p.hq}, want.lse),
                   out64 = tensor(f64, {p.sq, p.hq, p.d}, want.out);
  HostTensor dq(f64, {p.sq, p.hq, p.d}), dk(f64, {p.sk, p.hkv, p.d}), dv(f64, {p.sk, p.hkv, p.d}),
      dsink(DType::kFloat32, p.sink_shape());
  dsink.fill(0.5);
  ffa_backward(q.view(), k.view(), v.view(), out64.view(), lse64.view(), dout.view(), p.slices, o,
               dq.view(), dk.view(), dv.view(), dsink.view());
  expect_near(dq.get(), want.dq, 1e-10, "dq");
  expect_near(dk.get(), want.dk, 1e-10, "dk");
  expect_near(dv.get(), want.dv, 1e-10, "dv");
  std::vector<double> ds = dsink.get();
  for (double& x : ds) x -= 0.5;
  expect_near(ds, want.dsink, 1e-6, "dsink");  // fp32
  // The -inf sink has no weight and no gradient.
  EXPECT_EQ(ds[1], 0.0);
}

TEST_P(SinkTest, SinkGivenToOneAccumulatingCallEqualsOneCall) {
  Problem p = make_problem(GetParam(), 11);
  // Keys split over two calls (keys [0, 5), then [5, 11)); the sink rides on the second. Row
  // 12 has no key.
  p.slices = {{{0, 12}, {0, 11}, AttnMaskType::kFull}};
  const std::vector<AttnSlice> first = {{{0, 12}, {0, 5}, AttnMaskType::kFull}},
                               rest = {{{0, 12}, {5, 11}, AttnMaskType::kFull}};
  const Reference want = reference(p);
  const auto f64 = DType::kFloat64;
  const HostTensor q = tensor(f64, {p.sq, p.hq, p.d}, p.q),
                   k = tensor(f64, {p.sk, p.hkv, p.d}, p.k),
                   v = tensor(f64, {p.sk, p.hkv, p.d}, p.v),
                   sink = tensor(DType::kFloat32, p.sink_shape(), p.sink);
  HostTensor out(f64, {p.sq, p.hq, p.d}), lse(f64, {p.sq, p.hq});
  FfaOptions plain, with_sink;
  with_sink.sink = AttnSink{sink.view(), p.layout};
  ffa_forward(q.view(), k.view(), v.view(), first, plain, out.view(), lse.view());
  ffa_forward(q.view(), k.view(), v.view(), rest, with_sink, out.view(), lse.view(), true);
  expect_near(out.get(), want.out, 1e-12, "out");
  expect_near(lse.get(), want.lse, 1e-12, "lse");
}

INSTANTIATE_TEST_SUITE_P(Layouts, SinkTest, ::testing::Values(SinkLayout::kSH, SinkLayout::kSSH),
                         [](const auto& info) { return std::string(to_string(info.param)); });

// ---- validation ---------------------------------------------------------------------------

std::string forward_error(const TensorView& sink_view, SinkLayout layout) {
  HostTensor q(DType::kFloat32, {5, 4, 8}), k(DType::kFloat32, {5, 2, 8}),
      v(DType::kFloat32, {5, 2, 8}), out(DType::kFloat32, {5, 4, 8}), lse(DType::kFloat32, {5, 4});
  FfaOptions o;
  o.sink = AttnSink{sink_view, layout};
  const std::vector<AttnSlice> slices = {{{0, 5}, {0, 5}, AttnMaskType::kFull}};
  try {
    ffa_forward(q.view(), k.view(), v.view(), slices, o, out.view(), lse.view());
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(SinkValidation, NamesTheBadValue) {
  const HostTensor wrong_heads(DType::kFloat32, {2, 3}), f64(DType::kFloat64, {2, 4}),
      ssh_rows(DType::kFloat32, {4, 2, 4}), sh(DType::kFloat32, {2, 4}),
      none(DType::kFloat32, {0, 4});
  EXPECT_NE(forward_error(wrong_heads.view(), SinkLayout::kSH).find("[num_sink, 4]"),
            std::string::npos);
  EXPECT_NE(forward_error(f64.view(), SinkLayout::kSH).find("float32"), std::string::npos);
  EXPECT_NE(forward_error(ssh_rows.view(), SinkLayout::kSSH).find("[5, num_sink, 4]"),
            std::string::npos);
  EXPECT_NE(forward_error(sh.view(), SinkLayout::kSSH).find("expected 3 dims"), std::string::npos);
  EXPECT_NE(forward_error(none.view(), SinkLayout::kSH).find("num_sink = 0"), std::string::npos);
  EXPECT_NE(forward_error(sh.view(), static_cast<SinkLayout>(7)).find("sink_layout = 7"),
            std::string::npos);
  EXPECT_EQ(forward_error(sh.view(), SinkLayout::kSH), "");
}

TEST(SinkValidation, DsinkMustMatchTheSink) {
  HostTensor q(DType::kFloat32, {5, 4, 8}), k(DType::kFloat32, {5, 2, 8}),
      out(DType::kFloat32, {5, 4, 8}), lse(DType::kFloat32, {5, 4}), dq(DType::kFloat32, {5, 4, 8}),
      dk(DType::kFloat32, {5, 2, 8}), dv(DType::kFloat32, {5, 2, 8}), sink(DType::kFloat32, {2, 4}),
      bad(DType::kFloat32, {3, 4});
  const std::vector<AttnSlice> slices = {{{0, 5}, {0, 5}, AttnMaskType::kFull}};
  auto error = [&](const FfaOptions& o, const TensorView& dsink) -> std::string {
    try {
      ffa_backward(q.view(), k.view(), k.view(), out.view(), lse.view(), out.view(), slices, o,
                   dq.view(), dk.view(), dv.view(), dsink);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  FfaOptions plain, with_sink;
  with_sink.sink = AttnSink{sink.view(), SinkLayout::kSH};
  EXPECT_NE(error(plain, sink.view()).find("given without a sink"), std::string::npos);
  EXPECT_NE(error(with_sink, bad.view()).find("dsink = float32[3, 4]"), std::string::npos);
  EXPECT_EQ(error(with_sink, sink.view()), "");
}

}  // namespace
}  // namespace magi
