// Options shared by several subcommands: the mask, the dist-attn config and the mesh.
#pragma once

#include <string>

#include "args.h"
#include "magi/config.h"
#include "magi/hier_plan.h"
#include "presets.h"

namespace magi::cli {

/// --slices FILE, or --mask NAME --seqlen N --seed N (seqlen default `default_seqlen`).
Mask mask_from_args(const Args& a, int64_t default_seqlen = 65536);
/// --dispatch --degree --min-chunk --max-chunks --overlap-alg, validated.
DistAttnConfig config_from_args(const Args& a);
/// "AxB" (inter-node x intra-node), e.g. "4x8"; throws naming the option and the value.
CommMesh parse_mesh(const std::string& option, const std::string& text);

}  // namespace magi::cli
