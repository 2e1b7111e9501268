// The FFA dispatcher rejects bad arguments with an Error naming the argument.
#include <gtest/gtest.h>

#include <functional>
#include <limits>
#include <string>

#include "kernels/backend.h"
#include "magi/check.h"
#include "magi/ffa.h"
#include "testing/expect_error.h"
#include "testing/host_tensor.h"

namespace magi {
namespace {

using testing::expect_error;
using testing::HostTensor;

/// A valid problem: Sq = 6, Sk = 5, Hq = 4, Hkv = 2, D = 8, fp32; each test breaks one thing.
struct Args {
  HostTensor q{DType::kFloat32, {6, 4, 8}}, k{DType::kFloat32, {5, 2, 8}},
      v{DType::kFloat32, {5, 2, 8}};
  HostTensor out{DType::kFloat32, {6, 4, 8}}, lse{DType::kFloat32, {6, 4}};
  HostTensor dout{DType::kFloat32, {6, 4, 8}}, dq{DType::kFloat32, {6, 4, 8}},
      dk{DType::kFloat32, {5, 2, 8}}, dv{DType::kFloat32, {5, 2, 8}};
  TensorView tq = q.view(), tk = k.view(), tv = v.view(), tout = out.view(), tlse = lse.view(),
             tdout = dout.view(), tdq = dq.view(), tdk = dk.view(), tdv = dv.view();
  std::vector<AttnSlice> slices = {{{0, 6}, {0, 5}, AttnMaskType::kCausal}};
  FfaOptions opts;
  bool accumulate = false;

  void forward() const { ffa_forward(tq, tk, tv, slices, opts, tout, tlse, accumulate); }
  void backward() const {
    ffa_backward(tq, tk, tv, tout, tlse, tdout, slices, opts, tdq, tdk, tdv);
  }
};

TEST(FfaValidation, ValidArgumentsPass) {
  Args a;
  a.forward();
  a.backward();
  a.accumulate = true;
  a.forward();
}

/// One broken argument: how to break it, which pass to call, what the message must say.
struct BadCase {
  std::function<void(Args&)> breaks;
  bool backward;
  std::string needle;
};

void run_cases(const std::vector<BadCase>& cases) {
  for (const BadCase& c : cases) {
    Args a;
    c.breaks(a);
    expect_error([&] { c.backward ? a.backward() : a.forward(); }, c.needle);
  }
}

TEST(FfaValidation, ShapesNameTheArgument) {
  run_cases({
      {[](Args& a) { a.tq.ndim = 2; }, false, "q = float32[6, 4] cpu: expected 3 dims"},
      {[](Args& a) { a.tk.shape[2] = 4; }, false, "head dim of k (4)"},
      {[](Args& a) { a.tv.shape[0] = 4; }, false, "v = float32[4, 2, 8]"},
      {[](Args& a) { a.tk.shape[1] = a.tv.shape[1] = 3; }, false, "Hq must be a multiple of Hkv"},
      {[](Args& a) { a.tout.shape[0] = 5; }, false, "out = float32[5, 4, 8]"},
      {[](Args& a) { a.tlse.shape[1] = 2; }, false, "lse = float32[6, 2]"},
      {[](Args& a) { a.tdout.shape[2] = 7; }, true, "dout = float32[6, 4, 7]"},
      {[](Args& a) { a.tdk.shape[0] = 6; }, true, "dk = float32[6, 2, 8]"},
      {[](Args& a) { a.tdq.shape[1] = 2; }, true, "dq = float32[6, 2, 8]"},
      {[](Args& a) { a.tq.shape[2] = a.tk.shape[2] = 0; }, false, "head dim must be >= 1"},
      // A view without dims is named as q (it was "q_ranges[0] ... exceeds the total 0").
      {[](Args& a) { a.tq.ndim = 0; }, false, "q = float32[] cpu: expected 3 dims"},
      {[](Args& a) { a.tk.ndim = 0; }, true, "k = float32[] cpu: expected 3 dims"},
      // Outputs whose rows overlap: every row would write the same memory.
      {[](Args& a) { a.tout.strides[0] = 0; }, false,
       "out = float32[6, 4, 8] cpu: its rows overlap"},
      {[](Args& a) { a.tdk.strides[0] = 8; }, true, "dk = float32[5, 2, 8] cpu: its rows overlap"},
  });
}

// v (and with it out, dout and dv) may have a head dim of its own (MLA: q / k 192, v 128).
TEST(FfaValidation, ValueHeadDimOfItsOwn) {
  const auto narrow_v = [](Args& a) {
    a.tv.shape[2] = a.tout.shape[2] = a.tdout.shape[2] = a.tdv.shape[2] = 4;
  };
  Args a;
  narrow_v(a);
  a.forward();
  a.backward();
  run_cases({
      {[&](Args& a) { a.tv.shape[2] = 4; }, false,
       "out = float32[6, 4, 8] cpu: expected shape [Sq, Hq, Dv]"},
      {[&](Args& a) {
         narrow_v(a);
         a.tdout.shape[2] = 8;
       },
       true, "dout = float32[6, 4, 8]"},
      {[&](Args& a) {
         narrow_v(a);
         a.tdv.shape[2] = 8;
       },
       true, "expected shape [Sk, Hkv, Dv] of v = [5, 2, 4]"},
      {[&](Args& a) {
         narrow_v(a);
         a.tdk.shape[2] = 4;
       },
       true, "dk = float32[5, 2, 4]"},
  });
}

TEST(FfaValidation, DtypesNameTheArgument) {
  HostTensor bf(DType::kBFloat16, {5, 2, 8}), ints(DType::kInt32, {6, 4, 8});
  HostTensor bf_out(DType::kBFloat16, {6, 4, 8}), half_lse(DType::kFloat16, {6, 4});
  run_cases({
      {[&](Args& a) { a.tk = bf.view(); }, false, "q, k and v must share one dtype"},
      {[&](Args& a) { a.tq = ints.view(); }, false,
       "q = int32[6, 4, 8] cpu: dtype must be a floating dtype"},
      {[&](Args& a) { a.tlse = half_lse.view(); }, false,
       "lse = float16[6, 4] cpu: dtype must be float32 or float64"},
      {[&](Args& a) { a.tout = bf_out.view(), a.accumulate = true; }, false,
       "out = bfloat16[6, 4, 8] cpu: dtype must be float32 or float64 in accumulate mode"},
      {[&](Args& a) { a.tdq = bf_out.view(); }, true, "dq = bfloat16"},
      {[&](Args& a) { a.tdv = bf.view(); }, true, "dv = bfloat16"},
  });
  Args a;  // 16-bit out is fine when not accumulating
  a.tout = bf_out.view();
  a.forward();
}

TEST(FfaValidation, SixteenBitGradientsAreCudaOnly) {
  // dq, dk / dv in q's 16-bit dtype mean "overwrite" (magi/ffa.h): CUDA only, named clearly.
  HostTensor q(DType::kBFloat16, {6, 4, 8}), k(DType::kBFloat16, {5, 2, 8}),
      v(DType::kBFloat16, {5, 2, 8}), out(DType::kBFloat16, {6, 4, 8}),
      dout(DType::kBFloat16, {6, 4, 8}), dk(DType::kBFloat16, {5, 2, 8}),
      dv(DType::kBFloat16, {5, 2, 8}), dv32(DType::kFloat32, {5, 2, 8});
  Args a;
  a.tq = q.view(), a.tk = k.view(), a.tv = v.view(), a.tout = out.view(), a.tdout = dout.view();
  a.tdk = dk.view(), a.tdv = dv.view();
  expect_error([&] { a.backward(); },
               "dk = bfloat16[5, 2, 8] cpu: gradients in bfloat16 "
               "(overwritten) are supported on CUDA only");
  a.tdv = dv32.view();  // mixed: dk overwritten, dv accumulated
  expect_error([&] { a.backward(); }, "dv = float32[5, 2, 8] cpu: dtype must be q's dtype");
  HostTensor dq(DType::kBFloat16, {6, 4, 8}), dk32(DType::kFloat32, {5, 2, 8});
  a.tdq = dq.view(), a.tdk = dk32.view();  // dq on its own
  expect_error([&] { a.backward(); },
               "dq = bfloat16[6, 4, 8] cpu: gradients in bfloat16 "
               "(overwritten) are supported on CUDA only");
}

TEST(FfaValidation, LayoutDeviceAndDataNameTheArgument) {
  run_cases({
      {[](Args& a) {
         a.tv.strides = {16, 8, 2};
       },
       false, "v = float32[5, 2, 8] cpu: the last dim must be contiguous"},
      {[](Args& a) {
         a.tk.device = {DeviceType::kCUDA, 0};
       },
       false, "k is on cuda:0 but q is on cpu"},
      {[](Args& a) {
         a.tdk.device = {DeviceType::kCUDA, 1};
       },
       true, "dk is on cuda:1"},
      {[](Args& a) { a.tq.data = nullptr; }, false, "q = float32[6, 4, 8] cpu: data is null"},
  });
  if (!has_backend(DeviceType::kCUDA)) {
    Args a;
    for (TensorView* t : {&a.tq, &a.tk, &a.tv, &a.tout, &a.tlse}) {
      t->device = {DeviceType::kCUDA, 0};
    }
    expect_error([&] { a.forward(); }, "built without CUDA");
  }
}

TEST(FfaValidation, SlicesAndOptionsNameTheArgument) {
  run_cases({
      {[](Args& a) {
         a.slices.push_back({{0, 7}, {0, 5}, {}});
       },
       false, "q_ranges[1] = [0, 7)"},
      {[](Args& a) {
         a.slices[0].k = {2, 1};
       },
       true, "k_ranges[0] = [2, 1)"},
      {[](Args& a) { a.slices[0].type = static_cast<AttnMaskType>(7); }, false,
       "attn_mask_type = 7"},
      {[](Args& a) { a.opts.softcap = -1; }, false, "softcap = -1"},
      {[](Args& a) { a.opts.softmax_scale = std::numeric_limits<double>::quiet_NaN(); }, true,
       "softmax_scale = nan"},
  });
}

}  // namespace
}  // namespace magi
