#include "api/key_agreement.h"

#include <array>
#include <bit>
#include <cstring>
#include <sstream>
#include <vector>

#include "common/env.h"
#include "magi/check.h"

namespace magi::api {
namespace {

/// A 64-bit hash that is the same in every process (std::hash need not be).
struct Hasher {
  uint64_t h = 0x9e3779b97f4a7c15ull;
  void add(uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
  }
  void add(int64_t v) { add(static_cast<uint64_t>(v)); }
  void add(double v) { add(std::bit_cast<uint64_t>(v)); }
  void add(const std::optional<int64_t>& v) {
    add(uint64_t{v.has_value()});
    add(v.value_or(0));
  }
  void add(const std::optional<uint64_t>& v) {
    add(uint64_t{v.has_value()});
    add(v.value_or(0));
  }
};

uint64_t config_hash(const DistAttnConfig& c) {
  Hasher h;
  const DispatchConfig& d = c.dispatch_config;
  h.add(int64_t{static_cast<int64_t>(d.alg.type)});
  h.add(d.alg.top_p);
  h.add(d.alg.allocation_ratio);
  h.add(d.chunk_size);
  h.add(int64_t{d.uneven_shard});
  const OverlapConfig& o = c.overlap_config;
  h.add(int64_t{o.enable});
  h.add(int64_t{static_cast<int64_t>(o.mode)});
  h.add(o.degree);
  h.add(o.dynamic_max_degree);
  h.add(o.min_chunk_size);
  h.add(o.max_num_chunks);
  h.add(int64_t{static_cast<int64_t>(o.alg.type)});
  h.add(int64_t{o.alg.random_costs});
  h.add(o.alg.random_seed);
  h.add(o.calc_cost_factor);
  h.add(o.comm_cost_factor);
  h.add(c.high_bandwith_domain_size);
  h.add(int64_t{c.hier_mesh.has_value()});
  if (c.hier_mesh) {
    h.add(c.hier_mesh->inter);
    h.add(c.hier_mesh->intra);
  }
  return h.h;
}

uint64_t slices_hash(std::span<const AttnSlice> slices) {
  Hasher h;
  for (const AttnSlice& s : slices) {
    h.add(s.q.start);
    h.add(s.q.end);
    h.add(s.k.start);
    h.add(s.k.end);
    h.add(int64_t{static_cast<int64_t>(s.type)});
  }
  return h.h;
}

constexpr int64_t kMagic = 0x6d6167694b657932;  // "magiKey2": the layout of this record
enum Field : int {
  kMagicField,
  kSeqlenQ,
  kSeqlenK,
  kHeadsQ,
  kHeadsKv,
  kHeadDim,
  kChunk,
  kNumSlices,
  kSlicesHash,
  kConfigHash,
  kSameSource,
  kNumFields
};
using Record = std::array<int64_t, kNumFields>;

/// The first field on which `a` and `b` differ, described for the error message.
std::string describe_difference(const Record& a, int64_t ra, const Record& b, int64_t rb) {
  std::ostringstream os;
  auto both = [&](const char* what, int f) {
    os << what << ": rank " << ra << " has " << a[f] << ", rank " << rb << " has " << b[f];
  };
  if (a[kMagicField] != b[kMagicField]) {
    os << "the ranks run different magi builds";
  } else if (a[kSeqlenQ] != b[kSeqlenQ]) {
    both("total_seqlen_q", kSeqlenQ);
  } else if (a[kSeqlenK] != b[kSeqlenK]) {
    both("total_seqlen_k", kSeqlenK);
  } else if (a[kNumSlices] != b[kNumSlices] || a[kSlicesHash] != b[kSlicesHash]) {
    os << "the mask: rank " << ra << " has " << a[kNumSlices] << " slices (hash " << std::hex
       << static_cast<uint64_t>(a[kSlicesHash]) << std::dec << "), rank " << rb << " has "
       << b[kNumSlices] << " slices (hash " << std::hex << static_cast<uint64_t>(b[kSlicesHash])
       << std::dec << ")";
  } else if (a[kSameSource] != b[kSameSource]) {
    both("is_same_source", kSameSource);
  } else if (a[kHeadsQ] != b[kHeadsQ]) {
    both("num_heads_q", kHeadsQ);
  } else if (a[kHeadsKv] != b[kHeadsKv]) {
    both("num_heads_kv", kHeadsKv);
  } else if (a[kHeadDim] != b[kHeadDim]) {
    both("head_dim", kHeadDim);
  } else if (a[kChunk] != b[kChunk]) {
    both("chunk_size (-1: default)", kChunk);
    os << " (without a chunk_size, MAGI_ATTENTION_MIN_CHUNKS_PER_RANK sets it: it must be the "
          "same on every rank)";
  } else {
    os << "the dist_attn_config (dispatch or overlap settings)";
  }
  return os.str();
}

}  // namespace

void check_key_agreement(const KeyRequest& rq, Communicator& comm) {
  const int64_t cp = comm.size();
  if (cp <= 1 || !env::flag("MAGI_ATTENTION_CHECK_KEY_CONSISTENCY")) return;
  Record mine{};
  mine[kMagicField] = kMagic;
  mine[kSeqlenQ] = rq.total_seqlen_q;
  mine[kSeqlenK] = rq.total_seqlen_k;
  mine[kHeadsQ] = rq.num_heads_q;
  mine[kHeadsKv] = rq.num_heads_kv;
  mine[kHeadDim] = rq.head_dim;
  mine[kChunk] = rq.chunk_size.value_or(-1);
  mine[kNumSlices] = static_cast<int64_t>(rq.slices.size());
  mine[kSlicesHash] = static_cast<int64_t>(slices_hash(rq.slices));
  mine[kConfigHash] = static_cast<int64_t>(rq.config ? config_hash(*rq.config) : 0);
  mine[kSameSource] = rq.is_same_source;

  // All-gather through all_to_all_v: one row (the record) to and from every rank.
  std::vector<Record> send(static_cast<size_t>(cp), mine), recv(static_cast<size_t>(cp));
  const std::vector<int64_t> counts(static_cast<size_t>(cp), 1);
  const TensorView s = TensorView::contiguous(send.data(), DType::kInt64, {cp, kNumFields});
  const TensorView r = TensorView::contiguous(recv.data(), DType::kInt64, {cp, kNumFields});
  comm.all_to_all_v(s, counts, r, counts, kNumFields * 8)->wait();  // host buffers

  // NOTE: every rank scans the same table in the same order, so all raise the same message.
  for (int64_t i = 1; i < cp; ++i) {
    if (recv[i] != recv[0]) {
      MAGI_FAIL("key creation: the ranks of the group disagree on ",
                describe_difference(recv[0], 0, recv[i], i),
                " (every rank must make the same key; MAGI_ATTENTION_CHECK_KEY_CONSISTENCY=0 "
                "skips this check)");
    }
  }
}

}  // namespace magi::api
