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
  std::unique_ptr<UploadedBuffer> buffer;  // every list: items, segments, row turns
};

size_t aligned(size_t n) { return (n + 15) / 16 * 16; }

std::unique_ptr<CudaFfaWork> build(const FfaWork& work, int device, void* stream) {
  constexpr int kLists = 4;
  WorkList lists[kLists] = {build_fwd_work(work.slices(), work.total_q(), kFwdBlockM),
                            build_bwd_work(work.slices(), work.total_k(), kBwdBlockN, kBwdBlockM),
                            build_bwd_work(work.slices(), work.total_k(), kBwdBlockN, kBwdBlockM,
                                           /*global_blocks_only=*/true),
                            build_bwd_work(work.slices(), work.total_k(), kBwdPassKeys, kBwdBlockM,
                                           /*global_blocks_only=*/true)};
  add_row_turns(lists[2], kBwdBlockM);
  add_row_turns(lists[3], kBwdBlockM);
  // One host image: per list [items][segs][row turns], each 16-byte aligned.
  size_t offsets[kLists][3], bytes = 0;
  for (int i = 0; i < kLists; ++i) {
    offsets[i][0] = bytes;
    bytes += aligned(lists[i].items.size() * sizeof(FfaWorkItem));
    offsets[i][1] = bytes;
    bytes += aligned(lists[i].segs.size() * sizeof(FfaSegment));
    offsets[i][2] = bytes;
    bytes += aligned(lists[i].row_turns.size() * sizeof(int32_t));
  }
  std::vector<unsigned char> host(bytes);
  auto put = [&](size_t at, const void* src, size_t n) {
    if (n) std::memcpy(host.data() + at, src, n);
  };
  for (int i = 0; i < kLists; ++i) {
    put(offsets[i][0], lists[i].items.data(), lists[i].items.size() * sizeof(FfaWorkItem));
    put(offsets[i][1], lists[i].segs.data(), lists[i].segs.size() * sizeof(FfaSegment));
    put(offsets[i][2], lists[i].row_turns.data(), lists[i].row_turns.size() * sizeof(int32_t));
  }
  auto w = std::make_unique<CudaFfaWork>();
  w->buffer = std::make_unique<UploadedBuffer>(host.data(), bytes, device, stream,
                                               "FFA CUDA: the mask's work lists");
  const auto* base = static_cast<const unsigned char*>(w->buffer->data());
  DeviceWorkList* out[kLists] = {&w->lists.fwd, &w->lists.bwd, &w->lists.bwd_det,
                                 &w->lists.bwd_det_pass};
  for (int i = 0; i < kLists; ++i) {
    out[i]->items = reinterpret_cast<const FfaWorkItem*>(base + offsets[i][0]);
    out[i]->segs = reinterpret_cast<const FfaSegment*>(base + offsets[i][1]);
    out[i]->row_turns = lists[i].row_turns.empty()
                            ? nullptr
                            : reinterpret_cast<const int32_t*>(base + offsets[i][2]);
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
