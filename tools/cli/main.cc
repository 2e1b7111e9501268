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
      "         --heads-kv N --head-dim N --dtype float32|float64 --check-rows N\n"
      "         --predict (per-stage times measured, and predicted by the cost model of\n"
      "         `simulate` with rates calibrated on this machine) --repeat N (passes run N\n"
      "         times, the fastest reported; 3 with --predict, else 1)\n"
      "  plan   print the dispatch and attention plan of a mask: per-rank load, imbalance,\n"
      "         remote rows per stage, comm volume vs ring attention\n"
      "         (mask options as above) --cp N --chunk N --degree N|dynamic --min-chunk N\n"
      "         --max-chunks N --dispatch min_heap|sequential|sorted_sequential_select|\n"
      "         topp_heap|exact --overlap-alg uniform|greedy --mesh AxB (inter x intra: bytes\n"
      "         per level of hierarchical communication) --json [--slices-out]\n"
      "  simulate  plan a mask, then predict per-rank, per-stage compute and communication\n"
      "         times and per-GPU TFLOP/s of magi (flat; hierarchical on several nodes), ring\n"
      "         attention, Ulysses and all-gather under one cost model (model outputs)\n"
      "         mask: --mask NAME --seqlen N (default tokens-per-gpu * cp) --tokens-per-gpu N\n"
      "           (8192) --seed N | --slices FILE.json\n"
      "         cluster: --gpus-per-node N (8) and --nodes N (1) or --cp N; --fwd-tflops R or\n"
      "           full=R,causal=R,inv_causal=R,bi_causal=R (669,655,655,655: H200, 2026-12-01);\n"
      "           --bwd-tflops (315,310,310,310) --nvlink-gbps (350) --inter-gbps (45)\n"
      "           --latency-us (20) --kernel-overhead-us (5) --mem-gbps (2000) --sync-comm\n"
      "           (LocalGroup exchanges: copies inside wait, no overlap)\n"
      "         shape: --heads N (64) --heads-kv N (8) --head-dim N (128) --dtype bf16|fp16|fp32\n"
      "         config: --chunk N (2048) --degree N|dynamic (2) --dispatch ... --overlap-alg\n"
      "           ... --min-chunk N --max-chunks N\n"
      "         --methods magi,magi_hier,ring,ulysses,all_gather --ring-layout auto|zigzag|\n"
      "           contiguous --ranks N (per-rank tables for N ranks and the slowest; 4) --json\n");
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
    if (cmd == "simulate") return magi::cli::run_simulate(args);
    std::fprintf(stderr, "magi-attn: unknown command '%s'\n", cmd.c_str());
    usage();
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "magi-attn %s: error: %s\n", cmd.c_str(), e.what());
    return 1;
  }
}
