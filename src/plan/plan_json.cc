// Plan::to_json: a readable dump for debugging and the CLI (no JSON library in the core).
#include <sstream>

#include "magi/plan.h"

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

void put_slices(std::ostream& os, const std::vector<AttnSlice>& slices) {
  os << "[";
  for (size_t i = 0; i < slices.size(); ++i) {
    const AttnSlice& s = slices[i];
    os << (i ? "," : "") << "[" << s.q.start << "," << s.q.end << "," << s.k.start << "," << s.k.end
       << ",\"" << to_string(s.type) << "\"]";
  }
  os << "]";
}

}  // namespace

std::string Plan::to_json(bool with_slices) const {
  std::ostringstream os;
  os << "{\"cp_size\":" << dispatch.cp_size << ",\"total_seqlen\":" << dispatch.total_seqlen
     << ",\"chunk_size\":" << dispatch.chunk_size << ",\"degree\":" << degree
     << ",\"partitions\":[";
  for (size_t r = 0; r < dispatch.partitions.size(); ++r) {
    os << (r ? "," : "");
    put_ints(os, dispatch.partitions[r]);
  }
  os << "],\"ranks\":[";
  for (size_t i = 0; i < ranks.size(); ++i) {
    const RankPlan& rp = ranks[i];
    os << (i ? "," : "") << "{\"rank\":" << rp.rank << ",\"host_area\":" << rp.host_area
       << ",\"remote_area\":" << rp.remote_area << ",\"host_ranges\":";
    put_ranges(os, rp.host_ranges);
    os << ",\"num_host_slices\":" << rp.host_slices.size();
    if (with_slices) {
      os << ",\"host_slices\":";
      put_slices(os, rp.host_slices);
    }
    os << ",\"stages\":[";
    for (size_t s = 0; s < rp.stages.size(); ++s) {
      const StagePlan& st = rp.stages[s];
      os << (s ? "," : "") << "{\"num_recv\":" << st.num_recv() << ",\"recv_global\":";
      put_ranges(os, st.recv_global);
      os << ",\"recv_counts\":";
      put_ints(os, st.recv_counts);
      os << ",\"send_counts\":";
      put_ints(os, st.send_counts);
      os << ",\"num_slices\":" << st.slices.size();
      if (with_slices) {
        os << ",\"slices\":";
        put_slices(os, st.slices);
      }
      os << "}";
    }
    os << "]}";
  }
  os << "]}";
  return os.str();
}

}  // namespace magi
