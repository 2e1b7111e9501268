#include "options.h"

namespace magi::cli {

Mask mask_from_args(const Args& a, int64_t default_seqlen) {
  if (a.has("slices")) return read_slice_file(a.str("slices", ""));
  return make_preset(a.str("mask", "varlen_causal"), a.integer("seqlen", default_seqlen),
                     static_cast<uint64_t>(a.integer("seed", 0)));
}

DistAttnConfig config_from_args(const Args& a) {
  DistAttnConfig c;
  const std::string alg = a.str("dispatch", "min_heap");
  bool found = false;
  for (int t = 0; t <= static_cast<int>(DispatchAlgType::kExact); ++t) {
    if (to_string(static_cast<DispatchAlgType>(t)) == alg) {
      c.dispatch_config.alg.type = static_cast<DispatchAlgType>(t);
      found = true;
    }
  }
  MAGI_CHECK(found, "--dispatch = '", alg, "': unknown dispatch algorithm");
  c.dispatch_config.alg.top_p = 0.5;
  OverlapConfig& o = c.overlap_config;
  const std::string degree = a.str("degree", "2");
  if (degree == "dynamic") {
    o.mode = AttnOverlapMode::kDynamic;
    o.degree.reset();
  } else {
    o.degree = a.integer("degree", 2);
  }
  o.min_chunk_size = a.integer("min-chunk", 512);
  o.max_num_chunks = a.integer("max-chunks", 64);
  const std::string overlap_alg = a.str("overlap-alg", "uniform");
  MAGI_CHECK(overlap_alg == "uniform" || overlap_alg == "greedy", "--overlap-alg = '", overlap_alg,
             "': expected uniform or greedy");
  if (overlap_alg == "greedy") o.alg.type = OverlapAlgType::kGreedy;
  c.validate();
  return c;
}

CommMesh parse_mesh(const std::string& option, const std::string& text) {
  const size_t x = text.find('x');
  CommMesh m{0, 0};
  bool ok = x != std::string::npos && x > 0 && x + 1 < text.size();
  if (ok) {
    try {
      size_t used_a = 0, used_b = 0;
      m.inter = std::stoll(text.substr(0, x), &used_a);
      m.intra = std::stoll(text.substr(x + 1), &used_b);
      ok = used_a == x && used_b == text.size() - x - 1;
    } catch (...) {
      ok = false;
    }
  }
  MAGI_CHECK(ok && m.inter >= 1 && m.intra >= 1, "--", option, " = '", text,
             "': expected AxB (inter-node x intra-node ranks, both >= 1), e.g. 4x8");
  return m;
}

}  // namespace magi::cli
