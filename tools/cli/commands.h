// The magi-attn subcommands: their options (args.h) and entry points. An entry point throws
// UsageError for a bad option (exit status 2) and returns the command's exit status otherwise.
#pragma once

#include <vector>

#include "args.h"

namespace magi::cli {

std::vector<Option> plan_options();
int run_plan(const Args& a);

std::vector<Option> demo_options();
int run_demo(const Args& a);

std::vector<Option> simulate_options();
int run_simulate(const Args& a);

std::vector<Option> bench_options();
int run_bench(const Args& a);

}  // namespace magi::cli
