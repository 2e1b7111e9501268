// Mask presets for the CLI and demo (slice files: slice_file.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "magi/mask.h"

namespace magi::cli {

struct Mask {
  std::string name;
  int64_t seqlen = 0;
  std::vector<AttnSlice> slices;
};

/// full, causal, varlen_full, varlen_causal, swa_causal, varlen_block_causal over `seqlen`
/// tokens. Document lengths are drawn from [seqlen/16, seqlen/4] with `seed`; the window of
/// swa_causal is seqlen/8; blocks of varlen_block_causal are seqlen/32 tokens.
Mask make_preset(const std::string& name, int64_t seqlen, uint64_t seed);
std::vector<std::string> preset_names();

}  // namespace magi::cli
