// to_json of simulation results (no JSON library in the core).
#include <sstream>

#include "magi/sim.h"

namespace magi::sim {
namespace {

void put_doubles(std::ostream& os, const std::vector<double>& v) {
  os << "[";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
  os << "]";
}

void put_array4(std::ostream& os, const std::array<double, 4>& v) {
  os << "{";
  for (int t = 0; t < 4; ++t)
    os << (t ? "," : "") << "\"" << to_string(static_cast<AttnMaskType>(t)) << "\":" << v[t];
  os << "}";
}

void put_rank(std::ostream& os, const RankTimes& r) {
  os << "{\"rank\":" << r.rank << ",\"host_fwd_s\":" << r.host_fwd_s
     << ",\"host_bwd_s\":" << r.host_bwd_s << ",\"fwd_s\":";
  put_doubles(os, r.fwd_s);
  os << ",\"bwd_s\":";
  put_doubles(os, r.bwd_s);
  os << ",\"fetch_s\":";
  put_doubles(os, r.fetch_s);
  os << ",\"reduce_s\":";
  put_doubles(os, r.reduce_s);
  os << ",\"fwd_wait_s\":" << r.fwd_wait_s << ",\"bwd_wait_s\":" << r.bwd_wait_s
     << ",\"fwd_end_s\":" << r.fwd_end_s << ",\"bwd_end_s\":" << r.bwd_end_s << "}";
}

}  // namespace

std::string to_json(const ClusterDesc& c, const AttnShape& s, std::span<const MethodResult> results,
                    bool with_ranks) {
  std::ostringstream os;
  os.precision(9);
  os << "{\"cluster\":{\"gpus_per_node\":" << c.gpus_per_node << ",\"nodes\":" << c.nodes
     << ",\"fwd_tflops\":";
  put_array4(os, c.fwd_tflops);
  os << ",\"bwd_tflops\":";
  put_array4(os, c.bwd_tflops);
  os << ",\"kernel_overhead_us\":" << c.kernel_overhead_us << ",\"intra_gbps\":" << c.intra_gbps
     << ",\"inter_gbps\":" << c.inter_gbps << ",\"latency_us\":" << c.latency_us
     << ",\"mem_gbps\":" << c.mem_gbps << ",\"async_comm\":" << (c.async_comm ? "true" : "false")
     << "},\"shape\":{\"heads_q\":" << s.heads_q << ",\"heads_kv\":" << s.heads_kv
     << ",\"head_dim\":" << s.head_dim << ",\"elem_bytes\":" << s.elem_bytes
     << ",\"acc_bytes\":" << s.acc_bytes << "},\"methods\":[";
  for (size_t i = 0; i < results.size(); ++i) {
    const MethodResult& m = results[i];
    os << (i ? "," : "") << "{\"method\":\"" << m.method
       << "\",\"feasible\":" << (m.feasible ? "true" : "false") << ",\"note\":\"" << m.note
       << "\",\"fwd_s\":" << m.fwd_s << ",\"bwd_s\":" << m.bwd_s
       << ",\"fwd_tflops\":" << m.fwd_tflops << ",\"bwd_tflops\":" << m.bwd_tflops
       << ",\"fwd_compute_s\":" << m.fwd_compute_s << ",\"bwd_compute_s\":" << m.bwd_compute_s
       << ",\"inter_bytes\":" << m.inter_bytes << ",\"intra_bytes\":" << m.intra_bytes;
    if (with_ranks && !m.ranks.empty()) {
      os << ",\"ranks\":[";
      for (size_t r = 0; r < m.ranks.size(); ++r) {
        os << (r ? "," : "");
        put_rank(os, m.ranks[r]);
      }
      os << "]";
    }
    os << "}";
  }
  os << "]}";
  return os.str();
}

}  // namespace magi::sim
