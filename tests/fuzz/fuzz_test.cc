// Seeded random fuzzing, run for a bounded time (issue 15, CI): the slice-file parser and the
// strict JSON reader on random, mutated and valid input; the mask algebra, dispatch and planner
// on random masks against their invariants. Built as its own executable (magi_fuzz), not part
// of magi_tests; CI runs it under AddressSanitizer + UndefinedBehaviorSanitizer.
//
//   MAGI_FUZZ_SECONDS  total time over the three targets (default 3)
//   MAGI_FUZZ_SEED     base seed (default 1); iteration i of a target uses seed + i, and a
//                      failure prints that seed and the input, so it can be replayed.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <random>
#include <string>

#include "json.h"
#include "magi/dispatch.h"
#include "magi/plan.h"
#include "slice_file.h"
#include "testing/plan_invariants.h"
#include "testing/random_mask.h"
#include "usage_error.h"

namespace magi {
namespace {

double env_number(const char* name, double def) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtod(v, nullptr) : def;
}

/// Runs body(seed) with seeds base, base + 1, ... until a third of MAGI_FUZZ_SECONDS passed
/// or a test failure; returns the number of iterations.
template <class F>
int64_t fuzz_loop(const char* target, F body) {
  const double seconds = env_number("MAGI_FUZZ_SECONDS", 3) / 3;
  const auto base = static_cast<uint64_t>(env_number("MAGI_FUZZ_SEED", 1));
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int64_t i = 0;
  for (; std::chrono::steady_clock::now() < end; ++i) {
    body(base + static_cast<uint64_t>(i));
    if (::testing::Test::HasFailure()) break;
  }
  std::printf("%s: %lld inputs in %.0f s (MAGI_FUZZ_SEED=%llu)\n", target, (long long)i, seconds,
              (unsigned long long)base);
  return i;
}

std::string escaped(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

/// A valid slice file of `m` (list form, or object form with seqlen and an unknown key).
std::string serialize(const cli::Mask& m, std::mt19937_64& rng) {
  std::string list = "[";
  for (size_t i = 0; i < m.slices.size(); ++i) {
    const AttnSlice& s = m.slices[i];
    const bool name = rng() % 2;
    list += (i ? ", [" : "[") + std::to_string(s.q.start) + "," + std::to_string(s.q.end) + ", " +
            std::to_string(s.k.start) + ",\n" + std::to_string(s.k.end) + ", " +
            (name ? "\"" + std::string(to_string(s.type)) + "\""
                  : std::to_string(static_cast<int>(s.type))) +
            "]";
  }
  list += "]";
  int64_t end = 0;
  for (const AttnSlice& s : m.slices) end = std::max({end, s.q.end, s.k.end});
  if (end >= 1 && rng() % 2) return list;  // the list form needs a token to infer seqlen
  return "{\"note\": {\"x\": [1, 2.5e3, null, true, \"a\\u00e9\"]}, \"seqlen\": " +
         std::to_string(m.seqlen) + ", \"slices\": " + list + "}";
}

/// `s` with a few random edits: deletions, insertions and replacements from JSON's alphabet,
/// truncation, duplication of a piece.
std::string mutate(std::string s, std::mt19937_64& rng) {
  static const std::string kAlphabet = "[]{},:\"0123456789-+.eEtrufalsn\\ \n\t";
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    const size_t at = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 5) {
      case 0:
        if (at < s.size()) s.erase(at, 1 + rng() % 3);
        break;
      case 1:
        s.insert(at, 1, kAlphabet[rng() % kAlphabet.size()]);
        break;
      case 2:
        if (at < s.size()) s[at] = static_cast<char>(rng() % 256);
        break;
      case 3:
        s.resize(at);
        break;
      default:
        if (at < s.size()) s.insert(at, s.substr(at, rng() % 12));
    }
  }
  return s;
}

TEST(Fuzz, SliceFileParser) {
  const int64_t n = fuzz_loop("slice file parser", [](uint64_t seed) {
    std::mt19937_64 rng(seed);
    cli::Mask valid{"fuzz", 1 + static_cast<int64_t>(rng() % 200), {}};
    valid.slices = testing::random_slices(rng, valid.seqlen, valid.seqlen, 5);
    const int kind = static_cast<int>(rng() % 4);
    std::string text = serialize(valid, rng);
    if (kind == 1) text = mutate(text, rng);
    if (kind == 2) {
      text.resize(rng() % 64);
      for (char& c : text) c = static_cast<char>(rng() % 256);
    }
    if (kind == 3) text = std::string(rng() % 200, "[{"[rng() % 2]) + text;
    try {
      const cli::Mask m = cli::parse_slice_text(text, "fuzz");
      ASSERT_GE(m.seqlen, 1);
      check_slices(m.slices, m.seqlen, m.seqlen);  // the parser's promise
      if (kind == 0) {
        ASSERT_EQ(m.slices, valid.slices) << "seed " << seed << ": " << escaped(text);
      }
    } catch (const cli::UsageError& e) {
      ASSERT_NE(kind, 0) << "seed " << seed << ": a valid file was refused: " << e.what() << "\n"
                         << escaped(text);
      ASSERT_NE(std::string(e.what()).find("fuzz"), std::string::npos) << e.what();
    } catch (const std::exception& e) {
      FAIL() << "seed " << seed << ": " << e.what() << " (not a UsageError) for input\n"
             << escaped(text);
    }
  });
  EXPECT_GT(n, 0);
}

TEST(Fuzz, JsonReader) {
  const int64_t n = fuzz_loop("json reader", [](uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::string text = R"({"a": [1, -0.5e-3, "x\"\\\u0041", {"b": [true, false, null]}], "c": {}})";
    for (int r = static_cast<int>(rng() % 3); r > 0; --r) text = mutate(text, rng);
    try {
      const cli::JsonValue v = cli::parse_json(text);
      ASSERT_LE(v.offset, text.size());
    } catch (const cli::JsonError& e) {
      ASSERT_LE(e.offset(), text.size()) << "seed " << seed << ": " << escaped(text);
    } catch (const std::exception& e) {
      FAIL() << "seed " << seed << ": " << e.what() << " for input\n" << escaped(text);
    }
  });
  EXPECT_GT(n, 0);
}

TEST(Fuzz, MaskAndPlanInvariants) {
  const int64_t n = fuzz_loop("mask and plan invariants", [](uint64_t seed) {
    std::mt19937_64 rng(seed);
    // seed % 4: 0 self-attention, 1 uneven shards (no padding, short last chunk, unequal chunk
    // counts), 2 cross-attention (K/V of their own length and dispatch), 3 both.
    const bool uneven = seed % 2 == 1, cross = seed % 4 >= 2;
    const testing::PlanCase c = cross ? (uneven ? testing::random_uneven_cross_plan_case(rng, 120)
                                                : testing::random_cross_plan_case(rng, 120))
                                      : (uneven ? testing::random_uneven_plan_case(rng, 120)
                                                : testing::random_plan_case(rng, 120));
    const int64_t total_k = c.kv_rows();
    SCOPED_TRACE("seed " + std::to_string(seed) + ", cp " + std::to_string(c.cp) + ", total " +
                 std::to_string(c.total) + (cross ? ", kv " + std::to_string(total_k) : "") +
                 ", chunk " + std::to_string(c.chunk) + (uneven ? ", uneven" : ""));
    // Mask algebra: the disjoint form and union_area count each cell of the union once.
    const auto dense = testing::dense_mask(c.slices, c.total, total_k);
    const auto disjoint = make_disjoint(c.slices);
    ASSERT_EQ(testing::dense_mask(disjoint, c.total, total_k), dense);
    int64_t area = 0;
    for (const AttnSlice& s : disjoint) area += s.area();
    ASSERT_EQ(area, testing::count_cells(dense));
    ASSERT_EQ(union_area(c.slices), area);
    // Dispatch: costs are the cells per chunk; plan: every invariant of check_plan.
    // Uneven: sequential always places every chunk (MinHeap may leave a rank empty, an error
    // tested in tests/dispatch).
    const DispatchAlg alg =
        uneven ? DispatchAlg{DispatchAlgType::kSequential} : testing::random_alg(rng);
    const DispatchMeta d = solve_dispatch(c.slices, c.total, c.chunk, c.cp, alg, uneven);
    int64_t cost = 0;
    for (int64_t x : d.rank_costs()) cost += x;
    ASSERT_EQ(cost, area);
    const OverlapConfig overlap = testing::random_overlap(rng);
    const int64_t r = static_cast<int64_t>(rng() % c.cp);
    if (cross) {
      const DispatchMeta dkv = solve_kv_dispatch(c.slices, total_k, c.chunk_kv, c.cp, alg, uneven);
      const Plan plan = make_plan(c.slices, d, dkv, overlap);
      testing::check_plan(c, plan);
      if (::testing::Test::HasFatalFailure()) return;
      ASSERT_EQ(make_rank_plan(c.slices, d, dkv, overlap, r).ranks.at(0), plan.ranks[r]);
      return;
    }
    const Plan plan = make_plan(c.slices, d, overlap);
    testing::check_plan(c, plan);
    if (::testing::Test::HasFatalFailure()) return;
    ASSERT_EQ(make_rank_plan(c.slices, d, overlap, r).ranks.at(0), plan.ranks[r]);
  });
  EXPECT_GT(n, 0);
}

}  // namespace
}  // namespace magi
