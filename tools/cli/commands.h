// The magi-attn subcommands.
#pragma once

#include "args.h"

namespace magi::cli {

int run_plan(const Args& a);
int run_demo(const Args& a);
int run_simulate(const Args& a);

}  // namespace magi::cli
