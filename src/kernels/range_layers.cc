#include "kernels/range_layers.h"

#include <algorithm>
#include <iterator>
#include <map>

namespace magi {

std::vector<int64_t> disjoint_layers(std::span<const AttnRange> ranges) {
  std::vector<int64_t> layer(ranges.size(), 0);
  // The rows seen so far as disjoint pieces: start -> (end, highest layer over the piece).
  std::map<int64_t, std::pair<int64_t, int64_t>> pieces;
  for (size_t i = 0; i < ranges.size(); ++i) {
    const int64_t a = ranges[i].start, b = ranges[i].end;
    if (a >= b) continue;
    // The first piece that ends after a.
    auto it = pieces.upper_bound(a);
    if (it != pieces.begin() && std::prev(it)->second.first > a) --it;
    int64_t top = -1;
    auto last = it;
    for (; last != pieces.end() && last->first < b; ++last) {
      top = std::max(top, last->second.second);
    }
    layer[i] = top + 1;
    // Repaint [a, b) with layer[i] (higher than every layer under it), keeping the parts of
    // the first and last overlapped pieces outside it.
    std::vector<std::pair<int64_t, std::pair<int64_t, int64_t>>> keep;
    if (it != last) {
      if (it->first < a) keep.push_back({it->first, {a, it->second.second}});
      const auto back = std::prev(last);
      if (back->second.first > b) keep.push_back({b, back->second});
    }
    pieces.erase(it, last);
    for (const auto& k : keep) pieces.insert(k);
    pieces.insert({a, {b, layer[i]}});
  }
  return layer;
}

}  // namespace magi
