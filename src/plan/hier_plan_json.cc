// HierPlan::to_json: a readable dump for debugging and the CLI (no JSON library in the core).
#include <sstream>

#include "magi/hier_plan.h"

namespace magi {
namespace {

void put_ranges(std::ostream& os, const AttnRanges& rs) {
  os << "[";
  for (size_t i = 0; i < rs.size(); ++i)
    os << (i ? "," : "") << "[" << rs[i].start << "," << rs[i].end << "]";
  os << "]";
}

void put_ints(std::ostream& os, const std::vector<int64_t>& v) {
  os << "[";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
  os << "]";
}

void put_exchange(std::ostream& os, const ExchangeTable& ex, bool with_rows) {
  os << "{\"num_send\":" << ex.num_send() << ",\"num_recv\":" << ex.num_recv()
     << ",\"send_counts\":";
  put_ints(os, ex.send_counts);
  os << ",\"recv_counts\":";
  put_ints(os, ex.recv_counts);
  if (with_rows) {
    os << ",\"send_rows\":";
    put_ranges(os, ex.send_rows);
    os << ",\"recv_global\":";
    put_ranges(os, ex.recv_global);
  }
  os << "}";
}

}  // namespace

std::string HierPlan::to_json(bool with_rows) const {
  const CommVolume v = volume();
  std::ostringstream os;
  os << "{\"mesh\":[" << mesh.inter << "," << mesh.intra << "],\"inter_rows\":" << v.inter_rows
     << ",\"intra_rows\":" << v.intra_rows << ",\"ranks\":[";
  for (size_t i = 0; i < ranks.size(); ++i) {
    os << (i ? "," : "") << "{\"rank\":" << ranks[i].rank << ",\"stages\":[";
    for (size_t s = 0; s < ranks[i].stages.size(); ++s) {
      const HierStagePlan& st = ranks[i].stages[s];
      os << (s ? "," : "") << "{\"inter\":";
      put_exchange(os, st.inter, with_rows);
      os << ",\"intra\":";
      put_exchange(os, st.intra, with_rows);
      if (with_rows) {
        os << ",\"assemble\":";
        put_ranges(os, st.assemble);
      }
      os << "}";
    }
    os << "]}";
  }
  os << "]}";
  return os.str();
}

}  // namespace magi
