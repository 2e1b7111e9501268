// Plan::to_json and HierPlan::to_json: readable dumps for debugging and the CLI (no JSON library in
// the core).
#include <sstream>

#include "magi/hier_plan.h"
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

std::string Plan::to_json(bool with_slices) const {
  std::ostringstream os;
  os << "{\"cp_size\":" << dispatch.cp_size << ",\"total_seqlen\":" << dispatch.total_seqlen
     << ",\"chunk_size\":" << dispatch.chunk_size << ",\"degree\":" << degree
     << ",\"partitions\":[";
  for (size_t r = 0; r < dispatch.partitions.size(); ++r) {
    os << (r ? "," : "");
    put_ints(os, dispatch.partitions[r]);
  }
  os << "]";
  // Cross-attention only: K/V have their own dispatch (self-attention's equals `dispatch`).
  const bool cross = dispatch_kv != dispatch;
  if (cross) {
    os << ",\"kv_total_seqlen\":" << dispatch_kv.total_seqlen
       << ",\"kv_chunk_size\":" << dispatch_kv.chunk_size << ",\"kv_partitions\":[";
    for (size_t r = 0; r < dispatch_kv.partitions.size(); ++r) {
      os << (r ? "," : "");
      put_ints(os, dispatch_kv.partitions[r]);
    }
    os << "]";
  }
  os << ",\"ranks\":[";
  for (size_t i = 0; i < ranks.size(); ++i) {
    const RankPlan& rp = ranks[i];
    os << (i ? "," : "") << "{\"rank\":" << rp.rank << ",\"host_area\":" << rp.host_area
       << ",\"remote_area\":" << rp.remote_area << ",\"host_ranges\":";
    put_ranges(os, rp.host_ranges);
    if (cross) {
      os << ",\"kv_host_ranges\":";
      put_ranges(os, rp.kv_host_ranges);
    }
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
      os << ",\"num_slices\":" << st.slices.size()
         << ",\"reads_local\":" << (st.reads_local ? "true" : "false");
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
