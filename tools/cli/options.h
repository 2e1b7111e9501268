// Options shared by the commands (the mask; the dispatch and overlap config) and their
// validated values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "args.h"
#include "magi/config.h"
#include "magi/hier_plan.h"
#include "presets.h"

namespace magi::cli {

/// Upper bound of --seqlen (and of a slice file's seqlen): 2^40 tokens. Whether a size fits
/// the machine is checked separately (resources.h).
inline constexpr int64_t kMaxSeqlen = int64_t{1} << 40;

/// --mask, --slices, --seqlen (default `default_seqlen`), --seed.
std::vector<Option> mask_options(const std::string& default_seqlen);
/// --dispatch, --degree, --min-chunk, --max-chunks, --overlap-alg.
std::vector<Option> config_options();

/// The mask of --slices or of --mask/--seqlen/--seed (UsageError for bad or conflicting values).
Mask mask_from_args(const Args& a);
/// The config of the config options (UsageError naming the option for a bad value).
DistAttnConfig config_from_args(const Args& a);

/// "AxB" (inter-node x intra-node ranks, both >= 1), e.g. "4x8"; UsageError naming --option.
CommMesh parse_mesh(const std::string& option, const std::string& text);

/// Appends `b` to `a`.
std::vector<Option> operator+(std::vector<Option> a, const std::vector<Option>& b);

/// The comma-separated items of an option's value ("" gives none; "a,,b" gives "a", "", "b").
std::vector<std::string> split_commas(const std::string& text);

}  // namespace magi::cli
