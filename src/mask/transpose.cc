// transpose_mask: every slice type is a band (band.h), and the transpose of a band is a band,
// so the transpose is exact with the same four slice types.
#include "magi/mask.h"
#include "mask/band.h"

namespace magi {
namespace {

/// dlo <= k - q < dhi  <=>  1 - dhi <= q - k < 1 - dlo (bounds that never bind stay so).
mask::Band transposed(const mask::Band& b) {
  mask::Band t{b.k, b.q};
  t.dlo = b.dhi == mask::kNoBound ? -mask::kNoBound : 1 - b.dhi;
  t.dhi = b.dlo == -mask::kNoBound ? mask::kNoBound : 1 - b.dlo;
  return t;
}

}  // namespace

std::vector<AttnSlice> transpose_mask(std::span<const AttnSlice> slices) {
  std::vector<AttnSlice> out;
  for (const AttnSlice& s : make_disjoint(slices)) {
    for (const AttnSlice& piece : mask::to_slices(transposed(mask::Band::from_slice(s)))) {
      out.push_back(piece);
    }
  }
  return out;
}

}  // namespace magi
