// Varlen masks from cumulative sequence lengths, including sliding windows, as exact slices.
#include "magi/check.h"
#include "magi/dist_attn.h"
#include "mask/band.h"

namespace magi {

std::vector<AttnSlice> varlen_slices(std::span<const int64_t> cu_seqlens_q,
                                     std::span<const int64_t> cu_seqlens_k, bool causal,
                                     int64_t window_left, int64_t window_right) {
  MAGI_CHECK(cu_seqlens_q.size() == cu_seqlens_k.size(), "cu_seqlens_q has ", cu_seqlens_q.size(),
             " entries but cu_seqlens_k has ", cu_seqlens_k.size());
  MAGI_CHECK(window_left >= -1, "window_size[0] = ", window_left, ": must be >= -1");
  MAGI_CHECK(window_right >= -1, "window_size[1] = ", window_right, ": must be >= -1");
  const AttnRanges qs = AttnRanges::from_cu_seqlens(cu_seqlens_q, cu_seqlens_q.back());
  const AttnRanges ks = AttnRanges::from_cu_seqlens(cu_seqlens_k, cu_seqlens_k.back());
  if (causal) window_right = 0;
  std::vector<AttnSlice> out;
  for (size_t i = 0; i < qs.size(); ++i) {
    const AttnRange q = qs[i], k = ks[i];
    // Bottom-right alignment: query row r of the sequence sits over key column r + shift,
    // and sees the columns [r + shift - left, r + shift + right].
    const int64_t shift = (k.start - q.start) + (k.size() - q.size());
    mask::Band b{q, k};
    if (window_left >= 0) b.dlo = shift - window_left;
    if (window_right >= 0) b.dhi = shift + window_right + 1;
    for (const AttnSlice& s : mask::to_slices(b)) out.push_back(s);
  }
  return out;
}

std::shared_ptr<const DistAttnRuntime> make_varlen_key(
    std::span<const int64_t> cu_seqlens_q, std::span<const int64_t> cu_seqlens_k, bool causal,
    int64_t window_left, int64_t window_right, int64_t num_heads_q, int64_t num_heads_kv,
    int64_t head_dim, Communicator& comm, const DistAttnConfig& config,
    std::optional<int64_t> chunk_size) {
  MAGI_CHECK(!cu_seqlens_q.empty() && !cu_seqlens_k.empty(), "cu_seqlens must not be empty");
  const auto slices = varlen_slices(cu_seqlens_q, cu_seqlens_k, causal, window_left, window_right);
  return make_flex_key(slices, cu_seqlens_q.back(), cu_seqlens_k.back(), num_heads_q, num_heads_kv,
                       head_dim, comm, config, chunk_size);
}

std::vector<int64_t> full_attention_to_varlen_attention(int64_t batch, int64_t seqlen) {
  MAGI_CHECK(batch >= 1, "batch_size = ", batch, ": must be >= 1");
  MAGI_CHECK(seqlen >= 1, "seqlen = ", seqlen, ": must be >= 1");
  std::vector<int64_t> cu(static_cast<size_t>(batch) + 1);
  for (int64_t b = 0; b <= batch; ++b) cu[b] = b * seqlen;
  return cu;
}

}  // namespace magi
