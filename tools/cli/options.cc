#include "options.h"

#include <sstream>

#include "slice_file.h"
#include "usage_error.h"

namespace magi::cli {
namespace {

std::string joined(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

std::vector<std::string> dispatch_names() {
  std::vector<std::string> out;
  for (int t = 0; t <= static_cast<int>(DispatchAlgType::kExact); ++t) {
    out.push_back(to_string(static_cast<DispatchAlgType>(t)));
  }
  return out;
}

}  // namespace

std::vector<Option> operator+(std::vector<Option> a, const std::vector<Option>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(item);
  return out;
}

std::vector<Option> mask_options(const std::string& default_seqlen) {
  return {{"mask", "NAME", "varlen_causal", "mask preset: " + joined(preset_names(), ", ")},
          {"slices", "FILE", "",
           "mask from a JSON slice file instead of --mask: [[q0, q1, k0, k1, \"causal\"], ...] or "
           "{\"seqlen\": S, \"slices\": [...]}; types full, causal, inv_causal, bi_causal or 0-3"},
          {"seqlen", "N", default_seqlen, "tokens of the preset mask, 1 .. 2^40"},
          {"seed", "N", "0", "seed of the preset's document lengths"}};
}

std::vector<Option> config_options() {
  return {{"dispatch", "ALG", "min_heap", "dispatch algorithm: " + joined(dispatch_names(), ", ")},
          {"degree", "N|dynamic", "2", "overlap degree (remote stages), or dynamic"},
          {"min-chunk", "N", "512", "overlap: least rows of a remote chunk"},
          {"max-chunks", "N", "64", "overlap: most remote chunks (bounds --degree)"},
          {"overlap-alg", "ALG", "uniform", "overlap stage assignment: uniform, greedy"}};
}

Mask mask_from_args(const Args& a) {
  if (a.has("slices")) {
    for (const char* other : {"mask", "seqlen", "seed"}) {
      if (a.has(other)) {
        throw UsageError(std::string("--") + other + ": not used with --slices (the file " +
                         "gives the mask and its length)");
      }
    }
    return read_slice_file(a.str("slices"));
  }
  const std::string name = a.choice("mask", preset_names());
  const int64_t seqlen = a.integer("seqlen", 1, kMaxSeqlen);
  const int64_t seed = a.integer("seed", 0, INT64_MAX);
  return make_preset(name, seqlen, static_cast<uint64_t>(seed));
}

DistAttnConfig config_from_args(const Args& a) {
  DistAttnConfig c;
  const std::string alg = a.choice("dispatch", dispatch_names());
  for (int t = 0; t <= static_cast<int>(DispatchAlgType::kExact); ++t) {
    if (to_string(static_cast<DispatchAlgType>(t)) == alg) {
      c.dispatch_config.alg.type = static_cast<DispatchAlgType>(t);
    }
  }
  c.dispatch_config.alg.top_p = 0.5;
  OverlapConfig& o = c.overlap_config;
  o.min_chunk_size = a.integer("min-chunk", 1, INT64_MAX);
  o.max_num_chunks = a.integer("max-chunks", 1, 1 << 20);
  if (a.str("degree") == "dynamic") {
    o.mode = AttnOverlapMode::kDynamic;
    o.degree.reset();
  } else {
    o.degree = a.integer("degree", 0, o.max_num_chunks);
  }
  const std::vector<std::string> algs = {"uniform", "greedy"};
  if (a.choice("overlap-alg", algs) == "greedy") o.alg.type = OverlapAlgType::kGreedy;
  c.validate();
  return c;
}

CommMesh parse_mesh(const std::string& option, const std::string& text) {
  const size_t x = text.find('x');
  const std::string bad = "--" + option + " = '" + text +
                          "': expected AxB (inter-node x intra-node ranks, both >= 1), e.g. 4x8";
  if (x == std::string::npos || x == 0 || x + 1 >= text.size()) throw UsageError(bad);
  try {
    return {parse_integer(option, text.substr(0, x), 1, 1 << 20),
            parse_integer(option, text.substr(x + 1), 1, 1 << 20)};
  } catch (const UsageError&) {
    throw UsageError(bad);
  }
}

}  // namespace magi::cli
