// Slice files: the mask of `--slices FILE.json`. Either a JSON list of slices or an object with
// "slices" and optionally "seqlen" (other keys are ignored):
//   [[q_start, q_end, k_start, k_end, "causal"], ...]
//   {"seqlen": 4096, "slices": [[0, 4096, 0, 4096, 1]]}
// A type is a name (full, causal, inv_causal, bi_causal) or its code 0..3; seqlen defaults to
// the largest end (a given seqlen must hold every slice). Every bound is an integer in [0,
// kMaxSliceFileSeqlen].
#pragma once

#include <string>
#include <string_view>

#include "presets.h"

namespace magi::cli {

inline constexpr int64_t kMaxSliceFileSeqlen = int64_t{1} << 40;

/// Parses slice-file text; `name` labels error messages. Throws UsageError (naming the byte
/// offset for malformed JSON) for anything it does not accept.
Mask parse_slice_text(std::string_view text, const std::string& name);

/// Reads and parses a slice file (UsageError when it cannot be read).
Mask read_slice_file(const std::string& path);

}  // namespace magi::cli
