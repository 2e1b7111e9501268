// magi-attn: the command-line front end. `demo` is the main job.
//   magi-attn <command> [--option value ...]     magi-attn <command> --help
//   magi-attn --help | help [command]            magi-attn --version
// Exit status: 0 success, 1 failure (a FAIL of the demo's check, an error while running),
// 2 usage error (bad command, option, value or input file).
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "commands.h"
#include "usage_error.h"

#ifndef MAGI_VERSION
#define MAGI_VERSION "unknown"
#endif

namespace {

using magi::cli::Option;

struct Command {
  const char* name;
  const char* brief;    // one line for the command list
  const char* summary;  // the command's help
  std::vector<Option> (*options)();
  int (*run)(const magi::cli::Args&);
};

const Command kCommands[] = {
    {"demo", "dispatch -> attention fwd/bwd -> undispatch on simulated CP ranks, checked",
     "Runs dispatch -> attention (forward and backward) -> undispatch over simulated CP ranks\n"
     "(threads) on the CPU and checks it against a float64 single-device run and textbook\n"
     "dense attention. Prints PASS (exit 0) or FAIL (exit 1).",
     magi::cli::demo_options, magi::cli::run_demo},
    {"plan", "print the dispatch and attention plan of a mask over CP ranks",
     "Prints the dispatch and attention plan of a mask: per-rank load, imbalance, remote rows\n"
     "per stage, communication volume against ring attention.",
     magi::cli::plan_options, magi::cli::run_plan},
    {"simulate", "predict per-rank times and TFLOP/s of magi, ring, Ulysses on a cluster",
     "Plans a mask with the real dispatcher and planner, then predicts each rank's per-stage\n"
     "compute and communication times and the per-GPU TFLOP/s of magi (flat, and hierarchical\n"
     "on several nodes), ring attention, Ulysses and all-gather attention under one cost model\n"
     "(include/magi/sim.h; bench/SIMULATED.md). Model outputs, not measurements.",
     magi::cli::simulate_options, magi::cli::run_simulate},
    {"bench", "time the FFA kernels per mask on this machine's GPU or CPU, checked",
     "Times the FFA kernels' forward and backward on this machine (a GPU where this build has\n"
     "the CUDA kernels, else the CPU) for each mask, after checking out, lse, dq, dk and dv\n"
     "against textbook attention on sampled rows. Rates count the mask's cells and are also given\n"
     "against the full mask's, timed in the same run. Prints FAIL (exit 1) when a check fails.\n"
     "Peers (cuDNN, FlashAttention 2, FlexAttention) need torch: bench/bench_ffa.py.",
     magi::cli::bench_options, magi::cli::run_bench},
};

void usage(std::FILE* f) {
  std::fprintf(f, "usage: magi-attn <command> [--option value ...]\n\ncommands:\n");
  for (const Command& c : kCommands) std::fprintf(f, "  %-8s %s\n", c.name, c.brief);
  std::fprintf(f,
               "\n'magi-attn <command> --help' lists a command's options and their defaults.\n"
               "  --help      this help\n  --version   the version\n");
}

const Command* find(const std::string& name) {
  for (const Command& c : kCommands) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string first = argc > 1 ? argv[1] : "";
  if (first == "--version") {
    std::printf("magi-attn %s\n", MAGI_VERSION);
    return 0;
  }
  if (first == "--help" || first == "-h" || first == "help") {
    const Command* c = argc > 2 ? find(argv[2]) : nullptr;
    if (argc > 2 && !c) {
      std::fprintf(stderr, "magi-attn: unknown command '%s'\n", argv[2]);
      return 2;
    }
    if (c) {
      std::printf("%s", magi::cli::help_text(c->name, c->summary, c->options()).c_str());
    } else {
      usage(stdout);
    }
    return 0;
  }
  const Command* cmd = find(first);
  if (!cmd) {
    if (first.empty()) {
      usage(stderr);
    } else {
      std::string names;
      for (const Command& c : kCommands) names += (names.empty() ? "" : ", ") + std::string(c.name);
      std::fprintf(stderr, "magi-attn: unknown command '%s' (commands: %s)\n", first.c_str(),
                   names.c_str());
    }
    return 2;
  }
  const std::vector<Option> options = cmd->options();
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf("%s", magi::cli::help_text(cmd->name, cmd->summary, options).c_str());
      return 0;
    }
  }
  try {
    const magi::cli::Args args(options, argc, argv, 2);
    return cmd->run(args);
  } catch (const magi::cli::UsageError& e) {
    std::fprintf(stderr, "magi-attn %s: error: %s\n(see 'magi-attn %s --help')\n", cmd->name,
                 e.what(), cmd->name);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "magi-attn %s: error: %s\n", cmd->name, e.what());
    return 1;
  }
}
