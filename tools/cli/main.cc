// magi-attn: the command-line front end. `demo` is the main job.
#include <cstdio>
#include <exception>
#include <string>

#include "commands.h"

namespace {

void usage() {
  std::printf(
      "usage: magi-attn <command> [--option value ...]\n"
      "  demo   run dispatch -> attention (fwd+bwd) -> undispatch over simulated CP ranks\n"
      "         and check it against a dense reference\n"
      "         --mask NAME (full, causal, varlen_full, varlen_causal, swa_causal,\n"
      "                      varlen_block_causal) | --slices FILE.json\n"
      "         --seqlen N --seed N --cp N --chunk N --degree N|dynamic --heads N\n"
      "         --heads-kv N --head-dim N --dtype float32|float64|bfloat16 --threads N\n"
      "  plan   print the dispatch and attention plan of a mask: per-rank load, imbalance,\n"
      "         remote rows per stage, comm volume vs ring attention\n"
      "         (mask options as above) --cp N --chunk N --degree N|dynamic --min-chunk N\n"
      "         --max-chunks N --dispatch min_heap|sequential|sorted_sequential_select|\n"
      "         topp_heap|exact --overlap-alg uniform|greedy --json\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "help") {
    usage();
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  for (int i = 2; i < argc; ++i) {
    if (std::string(argv[i]) == "--help") {
      usage();
      return 0;
    }
  }
  try {
    const magi::cli::Args args(argc, argv, 2);
    if (cmd == "plan") return magi::cli::run_plan(args);
    if (cmd == "demo") return magi::cli::run_demo(args);
    std::fprintf(stderr, "magi-attn: unknown command '%s'\n", cmd.c_str());
    usage();
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "magi-attn %s: error: %s\n", cmd.c_str(), e.what());
    return 1;
  }
}
