#include "common/env.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <string>

#include "magi/check.h"

namespace magi::env {
namespace {

constexpr Knob kKnobs[] = {
    {"MAGI_ATTENTION_CHECK_KEY_CONSISTENCY", KnobType::kFlag, "1",
     "key creation all-gathers a fingerprint of the key (mask, lengths, heads, chunk size, "
     "config) and raises when the ranks of the group disagree; 0 skips that collective"},
    {"MAGI_ATTENTION_DIST_ATTN_RUNTIME_DICT_SIZE", KnobType::kInt, "1000",
     "cached runtimes (keys) per group, least recently used evicted first"},
    {"MAGI_ATTENTION_DETERMINISTIC_MODE", KnobType::kFlag, "0",
     "every FFA backward adds into dq, dk and dv in a fixed order (bit-identical gradients from "
     "run to run; CUDA: Hopper kernels only), as FfaOptions::deterministic"},
    {"MAGI_ATTENTION_MIN_CHUNKS_PER_RANK", KnobType::kInt, "8",
     "the default chunk size (no chunk_size given) is ceil(total_seqlen / (this x cp_size)), "
     "at most 512 tokens: more chunks per rank balance better and plan slower. Read when a key "
     "is made: the same on every rank, and not changed while keys made without a chunk_size "
     "are in use (a rank whose value changed makes a new key alone and waits for the others)"},
    {"MAGI_ATTENTION_DSINK_ALL_REDUCE_OP", KnobType::kChoice, "none",
     "calc_attn's backward with a sink of layout sh: none leaves dsink partial (this rank's "
     "rows), sum / avg all-reduce it over the cp group (sum or mean of the ranks' partials)"},
};

const Knob& find(std::string_view name, KnobType type) {
  for (const Knob& k : kKnobs) {
    if (k.name == name) {
      MAGI_CHECK(k.type == type, "env knob ", name, " read with the wrong type");
      return k;
    }
  }
  MAGI_FAIL("env knob ", name, " is not declared in src/common/env.cc");
}

/// The variable's value, or the knob's default when unset or empty.
std::string value_of(const Knob& k) {
  const std::string name(k.name);
  const char* v = std::getenv(name.c_str());
  return v && *v ? std::string(v) : std::string(k.default_value);
}

}  // namespace

std::span<const Knob> knobs() { return kKnobs; }

bool flag(std::string_view name) {
  const Knob& k = find(name, KnobType::kFlag);
  std::string v = value_of(k);
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  if (v == "1" || v == "true" || v == "on" || v == "yes") return true;
  if (v == "0" || v == "false" || v == "off" || v == "no") return false;
  MAGI_FAIL(name, " = '", v, "': expected 1 or 0 (true/false, on/off, yes/no)");
}

int64_t integer(std::string_view name, int64_t lo, int64_t hi) {
  const Knob& k = find(name, KnobType::kInt);
  const std::string v = value_of(k);
  int64_t x = 0;
  const auto r = std::from_chars(v.data(), v.data() + v.size(), x);
  MAGI_CHECK(r.ec == std::errc{} && r.ptr == v.data() + v.size() && x >= lo && x <= hi, name,
             " = '", v, "': expected an integer in [", lo, ", ", hi, "]");
  return x;
}

std::string choice(std::string_view name, std::initializer_list<std::string_view> allowed) {
  const Knob& k = find(name, KnobType::kChoice);
  std::string v = value_of(k);
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string options;
  for (std::string_view a : allowed) {
    if (v == a) return v;
    options += (options.empty() ? "" : ", ") + std::string(a);
  }
  MAGI_FAIL(name, " = '", v, "': expected one of ", options);
}

}  // namespace magi::env
