// The backend interface, seen through a recording backend registered for CUDA tensors that
// computes with the CPU kernels on host memory: what the entries hand a backend (one check per
// call, resolved scores), and that prepared work is built once per device and reused.
#include "kernels/backend.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "magi/check.h"
#include "magi/dist_attn.h"
#include "testing/expect_error.h"
#include "testing/host_tensor.h"
#include "testing/recording_backend.h"

namespace magi {
namespace {

using testing::expect_error;

using testing::HostTensor;
using testing::Recording;

constexpr Device kCuda = testing::kRecordedCuda;

/// An FFA problem on "cuda:0" (host memory): Sq = Sk = 6, Hq = 4, Hkv = 2, D = 16, fp32.
struct Problem {
  HostTensor q{DType::kFloat32, {6, 4, 16}}, k{DType::kFloat32, {6, 2, 16}},
      v{DType::kFloat32, {6, 2, 16}}, out{DType::kFloat32, {6, 4, 16}},
      lse{DType::kFloat32, {6, 4}}, dq{DType::kFloat32, {6, 4, 16}},
      dk{DType::kFloat32, {6, 2, 16}}, dv{DType::kFloat32, {6, 2, 16}};
  std::vector<AttnSlice> slices = {{{0, 6}, {0, 6}, AttnMaskType::kCausal}};
  FfaWork work{slices, 6, 6};

  explicit Problem(Device device) {
    for (HostTensor* t : {&q, &k, &v}) {
      std::vector<double> x(static_cast<size_t>(t->numel()));
      for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37 * double(i));
      t->set(x);
    }
    dev = device;
  }
  TensorView on(const HostTensor& t) const {
    TensorView v = t.view();
    v.device = dev;
    return v;
  }
  void forward(const FfaOptions& o) const {
    ffa_forward(on(q), on(k), on(v), work, o, on(out), on(lse));
  }
  void backward(const FfaOptions& o) const {
    ffa_backward(on(q), on(k), on(v), on(out), on(lse), on(out), work, o, on(dq), on(dk), on(dv));
  }
  Device dev;
};

TEST(Backend, EntriesCheckOnceAndResolveTheScaleForTheBackend) {
  Recording r;
  Problem p(kCuda);
  p.forward({});
  p.forward({.softmax_scale = 0.3});
  p.backward({});
  EXPECT_EQ(r.backend.checks.load(), 3);  // one device check per entry call
  ASSERT_EQ(r.backend.scales.size(), 2u);
  EXPECT_DOUBLE_EQ(r.backend.scales[0], 0.25);  // 0 -> head_dim ** -0.5
  EXPECT_DOUBLE_EQ(r.backend.scales[1], 0.3);
  // Each call's scratch (the recording backend asks for some in both passes), given back.
  EXPECT_EQ(r.backend.counting.allocations.load(), 3);
  EXPECT_EQ(r.backend.counting.frees.load(), 3);
}

TEST(Backend, TheScaleRuleIsTheSameOnEveryDevice) {
  Recording r;
  for (Device d : {Device{}, kCuda}) {
    SCOPED_TRACE(to_string(d));
    Problem p(d);
    for (double bad : {-0.5, std::numeric_limits<double>::infinity(),
                       std::numeric_limits<double>::quiet_NaN()}) {
      try {
        p.forward({.softmax_scale = bad});
        ADD_FAILURE() << "softmax_scale = " << bad << " accepted";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("softmax_scale = "), std::string::npos) << e.what();
      }
    }
    // 0 and head_dim ** -0.5 given explicitly are the same computation.
    p.forward({});
    const std::vector<double> by_default = p.out.get();
    p.forward({.softmax_scale = 0.25});
    EXPECT_EQ(p.out.get(), by_default);
    p.forward({.softmax_scale = 0.5});
    EXPECT_NE(p.out.get(), by_default);
  }
  EXPECT_EQ(r.backend.checks.load(), 3);  // the CUDA calls that passed the entry: no more
}

TEST(Backend, PreparedWorkIsBuiltOncePerDevice) {
  Recording r;
  Problem p(kCuda);
  for (int i = 0; i < 3; ++i) p.forward({});
  p.backward({});
  EXPECT_EQ(r.backend.builds.load(), 1);
  p.dev = {DeviceType::kCUDA, 1};
  p.forward({});
  EXPECT_EQ(r.backend.builds.load(), 2);
}

TEST(Backend, CudaTensorsWithoutABackendNameTheDevice) {
  const Backend* previous = register_backend(DeviceType::kCUDA, nullptr);
  Problem p(kCuda);
  try {
    p.forward({});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda:0 but magi was built without CUDA"),
              std::string::npos)
        << e.what();
  }
  register_backend(DeviceType::kCUDA, previous);
}

TEST(Backend, AnUnknownDeviceTypeIsNamed) {
  expect_error(
      [] {
        backend_for({static_cast<DeviceType>(7), 0}, "ffa_forward");
      },
      "ffa_forward: device type 7 is neither CPU nor CUDA");
  expect_error([] { has_backend(static_cast<DeviceType>(-1)); }, "device type -1");
}

TEST(Backend, CalcAttnChecksOncePreparesOnceAndTakesOneBlockPerCall) {
  Recording r;
  clear_key_cache();
  const std::vector<AttnSlice> causal = {{{0, 16}, {0, 16}, AttnMaskType::kCausal}};
  run_local_ranks(1, [&](Communicator& comm) {
    // Heads not given: the one runtime serves any head configuration, planned once.
    const auto rt = make_flex_key(causal, 16, 16, 0, 0, 0, comm, {}, 4);
    for (auto [hq, hkv] : {std::pair{4, 2}, {2, 2}}) {
      HostTensor q(DType::kFloat32, {16, hq, 16}), k(DType::kFloat32, {16, hkv, 16}),
          o(DType::kFloat32, {16, hq, 16}), l(DType::kFloat32, {16, hq}),
          dq(DType::kFloat32, {16, hq, 16}), dk(DType::kFloat32, {16, hkv, 16}),
          dv(DType::kFloat32, {16, hkv, 16});
      q.fill(0.5);
      k.fill(0.25);
      auto on = [](const HostTensor& t) {
        TensorView v = t.view();
        v.device = kCuda;
        return v;
      };
      const int checks = r.backend.checks.load(),
                allocations = r.backend.counting.allocations.load();
      calc_attn(*rt, comm, on(q), on(k), on(k), {}, on(o), on(l));
      calc_attn_backward(*rt, comm, on(q), on(k), on(k), on(o), on(l), on(o), {}, on(dq), on(dk),
                         on(dv));
      EXPECT_EQ(r.backend.checks.load() - checks, 2);
      // One block per call: the forward's holds the FFA's scratch (out and lse are the
      // accumulators: fp32 in and out on one rank), the backward's accumulators and scratch.
      EXPECT_EQ(r.backend.counting.allocations.load() - allocations, 2);
    }
    EXPECT_EQ(r.backend.builds.load(), 1);  // the host stage's work, on one device
    EXPECT_EQ(key_cache_size(), 1u);
  });
  EXPECT_EQ(r.backend.counting.frees.load(), r.backend.counting.allocations.load());
  clear_key_cache();
}

}  // namespace
}  // namespace magi
