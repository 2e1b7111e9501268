// Host entry points of the CUDA FFA kernels: checks what the kernels assume, looks the work
// lists up in the plan cache and launches on the caller's stream.
#include "kernels/cuda/ffa_cuda.h"

#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <iterator>
#include <string>
#include <utility>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/ffa/launch.h"
#include "kernels/cuda/ffa/plan_cache.h"
#include "kernels/cuda/ffa/tile_table.h"
#include "kernels/cuda/runtime/tensor_ops_cuda.h"
#include "magi/check.h"

namespace magi::cuda {
namespace {

/// Makes `device` current for the scope of a call and restores the caller's device.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    MAGI_CUDA_CHECK(cudaGetDevice(&prev_));
    set_ = prev_ != device;
    if (set_) MAGI_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceGuard() {
    if (set_) cudaSetDevice(prev_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = 0;
  bool set_ = false;
};

void check_cuda_tensor(const TensorView& t, const char* name, int ndim, int device) {
  MAGI_CHECK(t.device.type == DeviceType::kCUDA && t.device.index == device, "FFA CUDA: ", name,
             " must be on cuda:", device, ", got ", t.describe());
  MAGI_CHECK(t.ndim == ndim, "FFA CUDA: ", name, " must have ", ndim, " dims, got ", t.describe());
  MAGI_CHECK(t.strides[ndim - 1] == 1 || t.shape[ndim - 1] <= 1, "FFA CUDA: ", name,
             " needs a contiguous last dim, got ", t.describe());
}

/// q/k/v/dout: 16-byte aligned base and strides (cp.async moves 16 bytes).
void check_16b(const TensorView& t, const char* name) {
  MAGI_CHECK(reinterpret_cast<uintptr_t>(t.data) % 16 == 0 && t.strides[0] % 8 == 0 &&
                 t.strides[1] % 8 == 0,
             "FFA CUDA: ", name,
             " needs a 16-byte aligned base and row/head strides that are multiples of 8 "
             "elements, got ",
             t.describe());
}

/// Epilogues store element pairs: even strides and pair-aligned base.
void check_pairs(const TensorView& t, const char* name) {
  const uintptr_t pair = 2 * dtype_size(t.dtype);
  MAGI_CHECK(reinterpret_cast<uintptr_t>(t.data) % pair == 0 && t.strides[0] % 2 == 0 &&
                 t.strides[1] % 2 == 0,
             "FFA CUDA: ", name, " needs a pair-aligned base and even strides, got ", t.describe());
}

Elem elem_of(DType t) {
  MAGI_CHECK(t == DType::kBFloat16 || t == DType::kFloat16,
             "FFA CUDA: q, k, v must be bf16 or fp16, got ", to_string(t));
  return t == DType::kBFloat16 ? Elem::kBf16 : Elem::kFp16;
}

struct Scores {
  float scale, scale_log2, scale_cap, softcap_log2;
  int32_t use_softcap;
};

Scores scores_of(const FfaOptions& opts, int64_t d) {
  Scores s{};
  s.scale = static_cast<float>(opts.softmax_scale > 0 ? opts.softmax_scale
                                                      : 1.0 / std::sqrt(static_cast<double>(d)));
  s.scale_log2 = s.scale * kLog2e;
  s.use_softcap = opts.softcap > 0 ? 1 : 0;
  s.scale_cap = s.use_softcap ? static_cast<float>(s.scale / opts.softcap) : 0.f;
  s.softcap_log2 = s.use_softcap ? static_cast<float>(opts.softcap * kLog2e) : 0.f;
  return s;
}

template <size_t I = 0>
std::string supported_head_dims() {
  if constexpr (I == std::size(kHeadDimTiles)) {
    return "";
  } else {
    return (I ? ", " : "") + std::to_string(kHeadDimTiles[I].head_dim) +
           supported_head_dims<I + 1>();
  }
}

/// Calls fn.operator()<E, D>() for the row of kHeadDimTiles whose head dim is d.
template <size_t I = 0, class Fn>
void dispatch_kernel(Elem e, int64_t d, Fn&& fn) {
  if constexpr (I == std::size(kHeadDimTiles)) {
    MAGI_FAIL("FFA CUDA: head_dim must be one of ", supported_head_dims(), ", got ", d);
  } else {
    constexpr int kD = kHeadDimTiles[I].head_dim;
    if (d != kD) return dispatch_kernel<I + 1>(e, d, std::forward<Fn>(fn));
    if (e == Elem::kBf16) {
      fn.template operator()<Elem::kBf16, kD>();
    } else {
      fn.template operator()<Elem::kFp16, kD>();
    }
  }
}

void check_qkv(const TensorView& q, const TensorView& k, const TensorView& v, int device) {
  check_cuda_tensor(q, "q", 3, device);
  check_cuda_tensor(k, "k", 3, device);
  check_cuda_tensor(v, "v", 3, device);
  MAGI_CHECK(k.dtype == q.dtype && v.dtype == q.dtype, "FFA CUDA: q, k, v dtypes differ");
  MAGI_CHECK(k.shape[1] > 0 && q.shape[1] % k.shape[1] == 0 && v.shape[1] == k.shape[1] &&
                 k.shape[0] == v.shape[0] && k.shape[2] == q.shape[2] && v.shape[2] == q.shape[2],
             "FFA CUDA: shapes q ", q.describe(), ", k ", k.describe(), ", v ", v.describe());
  check_16b(q, "q");
  check_16b(k, "k");
  check_16b(v, "v");
}

}  // namespace

void ffa_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                 std::span<const AttnSlice> slices, const FfaOptions& opts, const TensorView& out,
                 const TensorView& lse, bool accumulate) {
  const int device = q.device.index;
  check_qkv(q, k, v, device);
  check_cuda_tensor(out, "out", 3, device);
  check_cuda_tensor(lse, "lse", 2, device);
  MAGI_CHECK(lse.dtype == DType::kFloat32, "FFA CUDA: lse must be fp32, got ", lse.describe());
  MAGI_CHECK(out.shape[0] == q.shape[0] && out.shape[1] == q.shape[1] &&
                 out.shape[2] == q.shape[2] && lse.shape[0] == q.shape[0] &&
                 lse.shape[1] == q.shape[1],
             "FFA CUDA: out ", out.describe(), " / lse ", lse.describe(), " do not match q");
  check_pairs(out, "out");
  FwdOutMode mode;
  if (accumulate) {
    MAGI_CHECK(out.dtype == DType::kFloat32, "FFA CUDA: accumulate mode needs an fp32 out, got ",
               out.describe());
    mode = FwdOutMode::kMergeFp32;
  } else if (out.dtype == DType::kBFloat16) {
    mode = FwdOutMode::kStoreBf16;
  } else if (out.dtype == DType::kFloat16) {
    mode = FwdOutMode::kStoreFp16;
  } else {
    MAGI_CHECK(out.dtype == DType::kFloat32, "FFA CUDA: out dtype ", to_string(out.dtype),
               " is not supported (bf16, fp16, fp32)");
    mode = FwdOutMode::kStoreFp32;
  }
  const int64_t sq = q.shape[0], sk = k.shape[0], hq = q.shape[1], d = q.shape[2];
  if (sq == 0 || hq == 0) return;
  const Elem elem = elem_of(q.dtype);
  DeviceGuard guard(device);
  const DevicePlan plan = get_plan(slices, sq, sk, PlanKind::kForward, kFwdBlockM);
  if (plan.num_items == 0) return;

  const Scores sc = scores_of(opts, d);
  FwdParams p{};
  p.q = q.data;
  p.k = k.data;
  p.v = v.data;
  p.out = out.data;
  p.lse = lse.ptr<float>();
  p.q_row_stride = q.strides[0];
  p.q_head_stride = q.strides[1];
  p.k_row_stride = k.strides[0];
  p.k_head_stride = k.strides[1];
  p.v_row_stride = v.strides[0];
  p.v_head_stride = v.strides[1];
  p.o_row_stride = out.strides[0];
  p.o_head_stride = out.strides[1];
  p.lse_row_stride = lse.strides[0];
  p.lse_head_stride = lse.strides[1];
  p.total_q = static_cast<int32_t>(sq);
  p.total_k = static_cast<int32_t>(sk);
  p.num_heads_q = static_cast<int32_t>(hq);
  p.heads_per_kv = static_cast<int32_t>(hq / k.shape[1]);
  p.scale_log2 = sc.scale_log2;
  p.scale_cap = sc.scale_cap;
  p.softcap_log2 = sc.softcap_log2;
  p.use_softcap = sc.use_softcap;
  p.out_mode = mode;
  p.items = plan.items;
  p.segs = plan.segs;
  p.num_items = plan.num_items;
  const int64_t grid = static_cast<int64_t>(plan.num_items) * hq;
  MAGI_CHECK(grid < (int64_t{1} << 31), "FFA CUDA: grid too large");
  dispatch_kernel(elem, d, [&]<Elem E, int D>() {
    launch_fwd<E, D>(p, static_cast<int>(grid), opts.cuda_stream);
  });
}

void ffa_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                  const TensorView& out, const TensorView& lse, const TensorView& dout,
                  std::span<const AttnSlice> slices, const FfaOptions& opts, const TensorView& dq,
                  const TensorView& dk, const TensorView& dv) {
  const int device = q.device.index;
  check_qkv(q, k, v, device);
  check_cuda_tensor(out, "out", 3, device);
  check_cuda_tensor(dout, "dout", 3, device);
  check_cuda_tensor(lse, "lse", 2, device);
  check_cuda_tensor(dq, "dq", 3, device);
  check_cuda_tensor(dk, "dk", 3, device);
  check_cuda_tensor(dv, "dv", 3, device);
  MAGI_CHECK(dout.dtype == q.dtype, "FFA CUDA: dout must have q's dtype, got ", dout.describe());
  MAGI_CHECK(
      out.dtype == DType::kBFloat16 || out.dtype == DType::kFloat16 || out.dtype == DType::kFloat32,
      "FFA CUDA: out dtype ", to_string(out.dtype), " is not supported");
  MAGI_CHECK(lse.dtype == DType::kFloat32, "FFA CUDA: lse must be fp32");
  // dk / dv in q's dtype: overwritten with the gradient (magi/ffa.h).
  const bool overwrite = dk.dtype == q.dtype && dv.dtype == q.dtype;
  MAGI_CHECK(dq.dtype == DType::kFloat32 &&
                 (overwrite || (dk.dtype == DType::kFloat32 && dv.dtype == DType::kFloat32)),
             "FFA CUDA: dq must be an fp32 accumulator and dk, dv fp32 accumulators or of q's "
             "dtype, got dq = ",
             dq.describe(), ", dk = ", dk.describe(), ", dv = ", dv.describe());
  for (int i = 0; i < 3; ++i) {
    MAGI_CHECK(out.shape[i] == q.shape[i] && dout.shape[i] == q.shape[i] &&
                   dq.shape[i] == q.shape[i] && dk.shape[i] == k.shape[i] &&
                   dv.shape[i] == v.shape[i],
               "FFA CUDA: gradient / out shapes do not match q, k, v");
  }
  check_16b(dout, "dout");
  const int64_t sq = q.shape[0], sk = k.shape[0], hq = q.shape[1], d = q.shape[2];
  DeviceGuard guard(device);
  const cudaStream_t stream = static_cast<cudaStream_t>(opts.cuda_stream);
  auto zero_dkv = [&] {  // overwrite mode: rows no item writes read 0
    fill(dk, 0.0, opts.cuda_stream);
    fill(dv, 0.0, opts.cuda_stream);
  };
  if (sq == 0 || sk == 0 || hq == 0) {
    if (overwrite) zero_dkv();
    return;
  }
  const Elem elem = elem_of(q.dtype);
  const DevicePlan plan = get_plan(slices, sq, sk, PlanKind::kBackward, kBwdBlockN);
  if (plan.num_items == 0) {
    if (overwrite) zero_dkv();
    return;
  }
  // Overwrite mode, stored by the kernel: needs one writer per key row (disjoint key blocks,
  // one query head per kv head) and the Hopper kernel. Otherwise fp32 scratch accumulators,
  // cast into dk / dv at the end.
  const bool store_direct =
      overwrite && plan.disjoint_blocks && hq == k.shape[1] && hopper_kernels_selected();
  if (store_direct) zero_dkv();
  float* scratch = nullptr;
  TensorView dk_acc = dk, dv_acc = dv;
  if (overwrite && !store_direct) {
    const int64_t n = k.shape[0] * k.shape[1] * d;
    scratch = static_cast<float*>(
        device_alloc(static_cast<size_t>(2 * n) * sizeof(float), opts.cuda_stream));
    dk_acc =
        TensorView::contiguous(scratch, DType::kFloat32, {k.shape[0], k.shape[1], d}, q.device);
    dv_acc =
        TensorView::contiguous(scratch + n, DType::kFloat32, {k.shape[0], k.shape[1], d}, q.device);
    fill(dk_acc, 0.0, opts.cuda_stream);
    fill(dv_acc, 0.0, opts.cuda_stream);
  }

  // Row statistics: D = rowsum(dO * O), row-major; for the warp-specialised Hopper backward
  // head-major together with lse * log2(e), each [Hq, stride] (TMA loads a tile's rows).
  const bool ws = bwd_ws_selected();
  const int64_t stat_stride = (sq + 3) / 4 * 4;
  const int64_t stat_floats = ws ? 2 * hq * stat_stride : sq * hq;
  float* dsum = nullptr;
  MAGI_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&dsum),
                                  static_cast<size_t>(stat_floats) * sizeof(float), stream));
  const BwdStats stats{dsum + hq * stat_stride, dsum, stat_stride};
  BwdPreParams pre{};
  pre.out = out.data;
  pre.dout = dout.data;
  pre.dsum = dsum;
  pre.o_row_stride = out.strides[0];
  pre.o_head_stride = out.strides[1];
  pre.do_row_stride = dout.strides[0];
  pre.do_head_stride = dout.strides[1];
  pre.total_q = static_cast<int32_t>(sq);
  pre.num_heads_q = static_cast<int32_t>(hq);
  pre.head_dim = static_cast<int32_t>(d);
  pre.out_dtype = out.dtype == DType::kBFloat16 ? 0 : out.dtype == DType::kFloat16 ? 1 : 2;
  pre.dout_dtype = dout.dtype == DType::kBFloat16 ? 0 : 1;
  if (ws) {
    pre.lse2 = const_cast<float*>(stats.lse2);
    pre.lse = lse.ptr<float>();
    pre.lse_row_stride = lse.strides[0];
    pre.lse_head_stride = lse.strides[1];
    pre.stat_stride = stat_stride;
  }
  launch_bwd_preprocess(pre, stream);

  const Scores sc = scores_of(opts, d);
  BwdParams p{};
  p.q = q.data;
  p.k = k.data;
  p.v = v.data;
  p.dout = dout.data;
  p.lse = lse.ptr<float>();
  p.dsum = dsum;
  p.dq = dq.ptr<float>();
  p.dkv_store = store_direct ? 1 : 0;
  p.dk = store_direct ? nullptr : static_cast<float*>(dk_acc.data);
  p.dv = store_direct ? nullptr : static_cast<float*>(dv_acc.data);
  p.dk_store = store_direct ? dk.data : nullptr;
  p.dv_store = store_direct ? dv.data : nullptr;
  p.q_row_stride = q.strides[0];
  p.q_head_stride = q.strides[1];
  p.k_row_stride = k.strides[0];
  p.k_head_stride = k.strides[1];
  p.v_row_stride = v.strides[0];
  p.v_head_stride = v.strides[1];
  p.do_row_stride = dout.strides[0];
  p.do_head_stride = dout.strides[1];
  p.lse_row_stride = lse.strides[0];
  p.lse_head_stride = lse.strides[1];
  p.dq_row_stride = dq.strides[0];
  p.dq_head_stride = dq.strides[1];
  p.dk_row_stride = dk_acc.strides[0];
  p.dk_head_stride = dk_acc.strides[1];
  p.dv_row_stride = dv_acc.strides[0];
  p.dv_head_stride = dv_acc.strides[1];
  p.total_q = static_cast<int32_t>(sq);
  p.total_k = static_cast<int32_t>(sk);
  p.num_heads_q = static_cast<int32_t>(hq);
  p.heads_per_kv = static_cast<int32_t>(hq / k.shape[1]);
  p.scale = sc.scale;
  p.scale_log2 = sc.scale_log2;
  p.scale_cap = sc.scale_cap;
  p.softcap_log2 = sc.softcap_log2;
  p.use_softcap = sc.use_softcap;
  p.items = plan.items;
  p.segs = plan.segs;
  p.num_items = plan.num_items;
  const int64_t grid = static_cast<int64_t>(plan.num_items) * hq;
  MAGI_CHECK(grid < (int64_t{1} << 31), "FFA CUDA: grid too large");
  dispatch_kernel(elem, d, [&]<Elem E, int D>() {
    launch_bwd<E, D>(p, ws ? &stats : nullptr, static_cast<int>(grid), opts.cuda_stream);
  });
  MAGI_CUDA_CHECK(cudaFreeAsync(dsum, stream));
  if (scratch != nullptr) {
    copy_cast(dk_acc, dk, opts.cuda_stream);
    copy_cast(dv_acc, dv, opts.cuda_stream);
    device_free(scratch, opts.cuda_stream);
  }
}

}  // namespace magi::cuda
