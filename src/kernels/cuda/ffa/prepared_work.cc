#include "kernels/cuda/ffa/prepared_work.h"

#include <cstring>
#include <memory>
#include <vector>

#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/ffa/launch.h"
#include "kernels/cuda/ffa/work_list.h"
#include "kernels/ffa_work_impl.h"

namespace magi::cuda {
namespace {

struct CudaFfaWork : PreparedState {
  PreparedFfa lists;
  std::unique_ptr<UploadedBuffer> buffer;  // both lists: items, then segments, fwd then bwd
};

size_t aligned(size_t n) { return (n + 15) / 16 * 16; }

std::unique_ptr<CudaFfaWork> build(const FfaWork& work, int device, void* stream) {
  const WorkList lists[2] = {build_fwd_work(work.slices(), work.total_q(), kFwdBlockM),
                             build_bwd_work(work.slices(), work.total_k(), kBwdBlockN, kBwdBlockM)};
  // One host image: [fwd items][fwd segs][bwd items][bwd segs], each 16-byte aligned.
  size_t offsets[4], bytes = 0;
  for (int i = 0; i < 2; ++i) {
    offsets[2 * i] = bytes;
    bytes += aligned(lists[i].items.size() * sizeof(FfaWorkItem));
    offsets[2 * i + 1] = bytes;
    bytes += aligned(lists[i].segs.size() * sizeof(FfaSegment));
  }
  std::vector<unsigned char> host(bytes);
  for (int i = 0; i < 2; ++i) {
    if (!lists[i].items.empty()) {
      std::memcpy(host.data() + offsets[2 * i], lists[i].items.data(),
                  lists[i].items.size() * sizeof(FfaWorkItem));
    }
    if (!lists[i].segs.empty()) {
      std::memcpy(host.data() + offsets[2 * i + 1], lists[i].segs.data(),
                  lists[i].segs.size() * sizeof(FfaSegment));
    }
  }
  auto w = std::make_unique<CudaFfaWork>();
  w->buffer = std::make_unique<UploadedBuffer>(host.data(), bytes, device, stream,
                                               "FFA CUDA: the mask's work lists");
  const auto* base = static_cast<const unsigned char*>(w->buffer->data());
  DeviceWorkList* out[2] = {&w->lists.fwd, &w->lists.bwd};
  for (int i = 0; i < 2; ++i) {
    out[i]->items = reinterpret_cast<const FfaWorkItem*>(base + offsets[2 * i]);
    out[i]->segs = reinterpret_cast<const FfaSegment*>(base + offsets[2 * i + 1]);
    out[i]->num_items = static_cast<int32_t>(lists[i].items.size());
    out[i]->disjoint_blocks = lists[i].disjoint_blocks;
  }
  return w;
}

}  // namespace

const PreparedFfa& prepared_ffa(const FfaWork& work, int device, void* stream) {
  return work.impl()
      .prepared
      .get<CudaFfaWork>(Device{DeviceType::kCUDA, device},
                        [&] { return build(work, device, stream); })
      .lists;
}

}  // namespace magi::cuda
