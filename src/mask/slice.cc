#include <algorithm>

#include "magi/check.h"
#include "magi/mask.h"
#include "mask/band.h"

namespace magi {

std::string_view to_string(AttnMaskType t) {
  switch (t) {
    case AttnMaskType::kFull:
      return "full";
    case AttnMaskType::kCausal:
      return "causal";
    case AttnMaskType::kInvCausal:
      return "inv_causal";
    case AttnMaskType::kBiCausal:
      return "bi_causal";
  }
  MAGI_FAIL("mask type: invalid value ", static_cast<int>(t));
}

AttnMaskType mask_type_from_string(std::string_view s) {
  for (int i = 0; i < 4; ++i) {
    if (to_string(static_cast<AttnMaskType>(i)) == s) return static_cast<AttnMaskType>(i);
  }
  MAGI_FAIL("attn_mask_type = '", s,
            "': unknown mask type (expected 'full', 'causal', 'inv_causal' or 'bi_causal')");
}

AttnMaskType mask_type_from_int(int64_t v) {
  MAGI_CHECK(v >= 0 && v <= 3, "attn_mask_type = ", v, ": unknown mask type (expected 0..3)");
  return static_cast<AttnMaskType>(v);
}

AttnRange AttnSlice::row_keys(int64_t row) const {
  return mask::Band::from_slice(*this).row_keys(row);
}

int64_t AttnSlice::area() const { return mask::Band::from_slice(*this).area(); }

std::string to_string(const AttnSlice& s) {
  return "(q=" + to_string(s.q) + ", k=" + to_string(s.k) + ", " + std::string(to_string(s.type)) +
         ")";
}

void check_slices(std::span<const AttnSlice> slices, int64_t total_q, int64_t total_k) {
  for (size_t i = 0; i < slices.size(); ++i) {
    const std::string idx = "[" + std::to_string(i) + "]";
    check_range(slices[i].q, "q_ranges" + idx, total_q);
    check_range(slices[i].k, "k_ranges" + idx, total_k);
    mask_type_from_int(static_cast<int64_t>(slices[i].type));
  }
}

std::vector<AttnSlice> clip(const AttnSlice& s, AttnRange rows, AttnRange cols) {
  return mask::to_slices(mask::Band::from_slice(s).with_rows(rows).with_cols(cols));
}

std::vector<AttnSlice> clip_rows(const AttnSlice& s, AttnRange rows) {
  return mask::to_slices(mask::Band::from_slice(s).with_rows(rows));
}

std::vector<AttnSlice> make_disjoint(std::span<const AttnSlice> slices) {
  struct Item {
    AttnSlice slice;
    mask::Band band;  // trimmed
  };
  std::vector<Item> items;
  items.reserve(slices.size());
  for (const AttnSlice& s : slices) {
    const mask::Band b = mask::Band::from_slice(s).trimmed();
    if (!b.empty()) items.push_back({s, b});
  }
  std::stable_sort(items.begin(), items.end(),
                   [](const Item& a, const Item& b) { return a.band.q.start < b.band.q.start; });

  std::vector<AttnSlice> out;
  // Sweep in q order; `active` holds earlier items whose rows reach the current one. Each item
  // keeps the part of its band that no earlier item covers.
  std::vector<size_t> active;
  for (size_t i = 0; i < items.size(); ++i) {
    const mask::Band& bi = items[i].band;
    std::erase_if(active, [&](size_t j) { return items[j].band.q.end <= bi.q.start; });
    std::vector<mask::Band> pieces{bi};
    bool touched = false;
    for (size_t j : active) {
      if (bi.intersect(items[j].band).trimmed().empty()) continue;
      touched = true;
      std::vector<mask::Band> next;
      for (const mask::Band& p : pieces) {
        for (const mask::Band& r : mask::subtract(p, items[j].band)) next.push_back(r);
      }
      pieces = std::move(next);
      if (pieces.empty()) break;
    }
    if (!touched) {
      out.push_back(items[i].slice);
    } else {
      for (const mask::Band& p : pieces) {
        for (const AttnSlice& s : mask::to_slices(p)) out.push_back(s);
      }
    }
    active.push_back(i);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const AttnSlice& a, const AttnSlice& b) { return a.q.start < b.q.start; });
  return out;
}

int64_t union_area(std::span<const AttnSlice> slices) {
  int64_t n = 0;
  for (const AttnSlice& s : make_disjoint(slices)) n += s.area();
  return n;
}

}  // namespace magi
