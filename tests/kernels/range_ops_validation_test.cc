// The range-op dispatcher rejects bad arguments with an Error naming the argument.
#include <gtest/gtest.h>

#include <string>

#include "kernels/range_ops.h"
#include "magi/check.h"
#include "testing/expect_error.h"
#include "testing/host_tensor.h"

namespace magi {
namespace {

using testing::expect_error;
using testing::HostTensor;

TEST(RangeOpsValidation, GatherAndScatter) {
  HostTensor src(DType::kFloat32, {10, 4}), dst(DType::kFloat32, {5, 4});
  HostTensor wide(DType::kFloat64, {5, 4}), narrow(DType::kFloat32, {5, 3}),
      ints(DType::kInt32, {5, 4});
  const std::vector<AttnRange> ok = {{0, 2}, {7, 10}};
  range_gather(src.view(), ok, dst.view());
  range_scatter_add(dst.view(), ok, src.view());

  expect_error(
      [&] {
        range_gather(src.view(), {{{0, 2}, {8, 11}}}, dst.view());
      },
      "range_gather: ranges[1] (rows of src) = [8, 11): end exceeds the total 10");
  expect_error(
      [&] {
        range_gather(src.view(), {{{0, 3}, {7, 10}}}, dst.view());
      },
      "dst = float32[5, 4] cpu: expected 6 rows");
  expect_error([&] { range_gather(src.view(), ok, wide.view()); }, "dst dtype float64 differs");
  expect_error([&] { range_gather(src.view(), ok, narrow.view()); },
               "dims after the first must match");
  expect_error(
      [&] {
        range_scatter_add(dst.view(), {{{0, 2}, {7, 12}}}, src.view());
      },
      "range_scatter_add: ranges[1] (rows of dst) = [7, 12)");
  expect_error([&] { range_scatter_add(ints.view(), ok, src.view()); },
               "src = int32[5, 4] cpu: dtype must be a floating dtype");
  expect_error(
      [&] {
        range_scatter_add(dst.view(), {{{0, 1}}}, src.view());
      },
      "src = float32[5, 4] cpu: expected 1 rows");
  TensorView strided = src.view();
  strided.strides = {4, 2};
  expect_error([&] { range_gather(strided, ok, dst.view()); },
               "src = float32[10, 4] cpu: dims after the first must be contiguous");
  TensorView gpu = dst.view();
  gpu.device = {DeviceType::kCUDA, 0};
  expect_error([&] { range_gather(src.view(), ok, gpu); }, "dst is on cuda:0 but src is on cpu");
}

TEST(RangeOpsValidation, MergeOutLse) {
  HostTensor o1(DType::kFloat32, {4, 2, 8}), l1(DType::kFloat32, {4, 2}),
      o2(DType::kBFloat16, {4, 2, 8}), l2(DType::kFloat32, {4, 2});
  l1.fill(0);
  l2.fill(0);
  merge_out_lse(o1.view(), l1.view(), o2.view(), l2.view());
  HostTensor bf_acc(DType::kBFloat16, {4, 2, 8}), short_lse(DType::kFloat32, {3, 2}),
      half_lse(DType::kFloat16, {4, 2});
  expect_error([&] { merge_out_lse(bf_acc.view(), l1.view(), o2.view(), l2.view()); },
               "out_acc = bfloat16[4, 2, 8] cpu: dtype must be float32 or float64");
  expect_error([&] { merge_out_lse(o1.view(), short_lse.view(), o2.view(), l2.view()); },
               "lse_acc = float32[3, 2] cpu: expected shape");
  expect_error([&] { merge_out_lse(o1.view(), l1.view(), o2.view(), half_lse.view()); },
               "lse_part = float16[4, 2] cpu: dtype must be float32 or float64");
  expect_error([&] { merge_out_lse(o1.view(), l1.view(), l2.view(), l2.view()); },
               "out_part = float32[4, 2] cpu: expected 3 dims");
}

}  // namespace
}  // namespace magi
