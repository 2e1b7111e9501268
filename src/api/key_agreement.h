// Key creation checks that every rank of the group asks for the same key: one all-gather of a
// fixed-size fingerprint (lengths, head counts, chunk size, slice count and hash, config hash)
// per key-creation call, before any planning or validation, so that ranks that disagree all
// raise the same error naming the first field that differs, instead of computing silently
// wrong results or failing inside an exchange. MAGI_ATTENTION_CHECK_KEY_CONSISTENCY=0 skips it.
//
// NOTE: it runs on every key-creation call, cache hit or miss: ranks that disagree may well
// disagree on whether the key is cached, and a check on misses only would then pair this
// collective with another rank's data exchange.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "magi/comm.h"
#include "magi/config.h"
#include "magi/mask.h"

namespace magi::api {

/// What the ranks must agree on: the arguments of a key-creation call.
struct KeyRequest {
  std::span<const AttnSlice> slices;
  int64_t total_seqlen_q = 0, total_seqlen_k = 0;
  int64_t num_heads_q = 0, num_heads_kv = 0, head_dim = 0;
  std::optional<int64_t> chunk_size;
  const DistAttnConfig* config = nullptr;
  bool is_same_source = true;
};

/// Throws magi::Error on every rank when the ranks' requests differ (no-op for one rank or
/// when the knob is 0). Every rank of `comm` must call it.
void check_key_agreement(const KeyRequest& request, Communicator& comm);

}  // namespace magi::api
