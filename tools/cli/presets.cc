#include "presets.h"

#include <algorithm>
#include <random>

#include "magi/check.h"

namespace magi::cli {
namespace {

std::vector<AttnRange> documents(int64_t seqlen, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int64_t lo = std::max<int64_t>(1, seqlen / 16), hi = std::max<int64_t>(lo, seqlen / 4);
  std::vector<AttnRange> docs;
  for (int64_t pos = 0; pos < seqlen;) {
    const int64_t len = std::min(seqlen - pos, lo + static_cast<int64_t>(rng() % (hi - lo + 1)));
    docs.push_back({pos, pos + len});
    pos += len;
  }
  return docs;
}

}  // namespace

std::vector<std::string> preset_names() {
  return {"full", "causal", "varlen_full", "varlen_causal", "swa_causal", "varlen_block_causal"};
}

Mask make_preset(const std::string& name, int64_t seqlen, uint64_t seed) {
  MAGI_CHECK(seqlen >= 1, "seqlen = ", seqlen, ": must be >= 1");
  Mask m{name, seqlen, {}};
  const AttnRange all{0, seqlen};
  if (name == "full" || name == "causal") {
    m.slices.push_back({all, all, name == "full" ? AttnMaskType::kFull : AttnMaskType::kCausal});
  } else if (name == "varlen_full" || name == "varlen_causal") {
    const auto t = name == "varlen_full" ? AttnMaskType::kFull : AttnMaskType::kCausal;
    for (const AttnRange& d : documents(seqlen, seed)) m.slices.push_back({d, d, t});
  } else if (name == "swa_causal") {
    const int64_t w = std::max<int64_t>(1, seqlen / 8);
    m.slices.push_back({{0, w}, {0, w}, AttnMaskType::kCausal});
    if (w < seqlen) m.slices.push_back({{w, seqlen}, {1, seqlen}, AttnMaskType::kBiCausal});
  } else if (name == "varlen_block_causal") {
    const int64_t block = std::max<int64_t>(1, seqlen / 32);
    for (const AttnRange& d : documents(seqlen, seed)) {
      for (int64_t b = d.start; b < d.end; b += block) {
        const int64_t e = std::min(d.end, b + block);
        m.slices.push_back({{b, e}, {d.start, e}, AttnMaskType::kFull});
      }
    }
  } else {
    std::string names;
    for (const auto& n : preset_names()) names += " " + n;
    MAGI_FAIL("mask = '", name, "': unknown preset (expected one of:", names, ")");
  }
  return m;
}

}  // namespace magi::cli
