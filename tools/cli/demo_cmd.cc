// magi-attn demo: the main job (filled in by the CPU pipeline).
#include <cstdio>

#include "commands.h"

namespace magi::cli {

int run_demo(const Args& a) {
  std::printf("demo: not built yet; `magi-attn plan` prints a plan\n");
  return run_plan(a);
}

}  // namespace magi::cli
