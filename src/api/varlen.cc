// Varlen masks from cumulative sequence lengths, including sliding windows, as exact slices.
#include <algorithm>
#include <limits>

#include "magi/check.h"
#include "magi/dist_attn.h"
#include "mask/band.h"

namespace magi {

std::vector<AttnSlice> varlen_slices(std::span<const int64_t> cu_seqlens_q,
                                     std::span<const int64_t> cu_seqlens_k, bool causal,
                                     int64_t window_left, int64_t window_right,
                                     int64_t global_window) {
  MAGI_CHECK(!cu_seqlens_q.empty() && !cu_seqlens_k.empty(), "cu_seqlens_q has ",
             cu_seqlens_q.size(), " entries and cu_seqlens_k ", cu_seqlens_k.size(),
             ": each needs at least one (a leading 0)");
  MAGI_CHECK(cu_seqlens_q.size() == cu_seqlens_k.size(), "cu_seqlens_q has ", cu_seqlens_q.size(),
             " entries but cu_seqlens_k has ", cu_seqlens_k.size());
  MAGI_CHECK(window_left >= -1, "window_size[0] = ", window_left, ": must be >= -1");
  MAGI_CHECK(window_right >= -1, "window_size[1] = ", window_right, ": must be >= -1");
  MAGI_CHECK(global_window >= 0, "global_window_size = ", global_window, ": must be >= 0");
  const AttnRanges qs = AttnRanges::from_cu_seqlens(cu_seqlens_q, cu_seqlens_q.back());
  const AttnRanges ks = AttnRanges::from_cu_seqlens(cu_seqlens_k, cu_seqlens_k.back());
  // NOTE: without a window (FULL or CAUSAL) the global keys add no cell, so asking for them is
  // a caller error rather than a silent no-op (the original accepts them only with a window).
  MAGI_CHECK(global_window == 0 || window_left != -1 || window_right != -1,
             "global_window_size = ", global_window, ": needs a window_size other than (-1, -1)");
  if (causal) window_right = 0;
  std::vector<AttnSlice> out;
  for (size_t i = 0; i < qs.size(); ++i) {
    const AttnRange q = qs[i], k = ks[i];
    // Bottom-right alignment: query row r of the sequence sits over key column r + shift,
    // and sees the columns [r + shift - left, r + shift + right].
    const int64_t shift = (k.start - q.start) + (k.size() - q.size());
    mask::Band b{q, k};
    // NOTE: a window wider than both sequences sees all of them: clamped to that width, the
    // diagonals below stay far from int64's ends.
    const int64_t widest = q.size() + k.size();
    if (window_left >= 0) b.dlo = shift - std::min(window_left, widest);
    if (window_right >= 0) b.dhi = shift + std::min(window_right, widest) + 1;
    if (global_window == 0) {
      for (const AttnSlice& s : mask::to_slices(b)) out.push_back(s);
      continue;
    }
    // The global keys [k.start, g_end) keep the window's upper diagonal (a row sees no global
    // key beyond its own right edge) but lose the lower one; the window keeps the other keys.
    // The two parts are disjoint, and the window's own cells below g_end lie inside the global
    // part, so their union is the whole mask.
    const int64_t g_end = k.start + std::min(global_window, k.size());
    for (const AttnSlice& s : mask::to_slices(b.with_cols({g_end, k.end}))) out.push_back(s);
    const mask::Band global{q, {k.start, g_end}, -mask::kNoBound, b.dhi};
    for (const AttnSlice& s : mask::to_slices(global)) out.push_back(s);
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
  // NOTE: the total must fit int64, and the list memory (a batch of 2^62 would not).
  MAGI_CHECK(batch <= (int64_t{1} << 32) && batch <= std::numeric_limits<int64_t>::max() / seqlen,
             "batch_size = ", batch, ", seqlen = ", seqlen,
             ": too large (at most 2^32 sequences, and a total within int64)");
  std::vector<int64_t> cu(static_cast<size_t>(batch) + 1);
  for (int64_t b = 0; b <= batch; ++b) cu[b] = b * seqlen;
  return cu;
}

}  // namespace magi
