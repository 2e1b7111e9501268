#include "presets.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

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

// A tiny reader for the one JSON shape we accept: numbers, strings, lists, objects.
class Reader {
 public:
  explicit Reader(std::string text) : s_(std::move(text)) {}
  void ws() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool peek(char c) {
    ws();
    return i_ < s_.size() && s_[i_] == c;
  }
  void expect(char c) {
    MAGI_CHECK(peek(c), "slice file: expected '", c, "' at offset ", i_);
    ++i_;
  }
  int64_t number() {
    ws();
    size_t used = 0;
    const int64_t v = std::stoll(s_.substr(i_, 32), &used);
    i_ += used;
    return v;
  }
  std::string string() {
    expect('"');
    const size_t end = s_.find('"', i_);
    MAGI_CHECK(end != std::string::npos, "slice file: unterminated string");
    std::string v = s_.substr(i_, end - i_);
    i_ = end + 1;
    return v;
  }
  AttnSlice slice() {
    expect('[');
    AttnSlice s;
    s.q.start = number();
    expect(',');
    s.q.end = number();
    expect(',');
    s.k.start = number();
    expect(',');
    s.k.end = number();
    expect(',');
    s.type = peek('"') ? mask_type_from_string(string()) : mask_type_from_int(number());
    expect(']');
    return s;
  }
  std::vector<AttnSlice> slices() {
    std::vector<AttnSlice> out;
    expect('[');
    while (!peek(']')) {
      out.push_back(slice());
      if (peek(',')) ++i_;
    }
    expect(']');
    return out;
  }
  // Skips any value (for unknown object keys).
  void skip() {
    if (peek('"')) {
      string();
    } else if (peek('[') || peek('{')) {
      const char open = s_[i_], close = open == '[' ? ']' : '}';
      ++i_;
      while (!peek(close)) {
        skip();
        if (peek(',') || peek(':')) ++i_;
      }
      ++i_;
    } else {
      while (i_ < s_.size() && !std::strchr(",]}", s_[i_])) ++i_;
    }
  }
  size_t pos() const { return i_; }

 private:
  std::string s_;
  size_t i_ = 0;
};

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

Mask read_slice_file(const std::string& path) {
  std::ifstream f(path);
  MAGI_CHECK(f.good(), "slice file '", path, "': cannot open");
  std::stringstream ss;
  ss << f.rdbuf();
  Reader r(ss.str());
  Mask m{path, 0, {}};
  if (r.peek('[')) {
    m.slices = r.slices();
  } else {
    r.expect('{');
    while (!r.peek('}')) {
      const std::string key = r.string();
      r.expect(':');
      if (key == "slices") {
        m.slices = r.slices();
      } else if (key == "seqlen") {
        m.seqlen = r.number();
      } else {
        r.skip();
      }
      if (r.peek(',')) r.expect(',');
    }
  }
  for (const AttnSlice& s : m.slices) m.seqlen = std::max({m.seqlen, s.q.end, s.k.end});
  check_slices(m.slices, m.seqlen, m.seqlen);
  return m;
}

}  // namespace magi::cli
