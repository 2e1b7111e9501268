#include "resources.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "usage_error.h"

namespace magi::cli {
namespace {

/// The first number of a file (0 when it is missing or holds "max").
double read_number(const char* path) {
  std::ifstream f(path);
  double x = 0;
  return f >> x ? x : 0;
}

double meminfo_available() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  double kib = 0;
  std::string unit;
  while (f >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  return 0;
}

}  // namespace

double available_memory_bytes() {
  double avail = meminfo_available();
  const double limit = read_number("/sys/fs/cgroup/memory.max");
  if (limit > 0) {
    const double room = std::max(0.0, limit - read_number("/sys/fs/cgroup/memory.current"));
    avail = avail > 0 ? std::min(avail, room) : room;
  }
  return avail;
}

void check_memory(double bytes, const std::string& what) {
  const double avail = available_memory_bytes();
  if (avail <= 0 || bytes <= 0.9 * avail) return;
  char msg[160];
  std::snprintf(msg, sizeof msg, " needs about %.1f GiB of memory, %.1f GiB are available",
                bytes / (1 << 30), avail / (1 << 30));
  throw UsageError(what + msg);
}

double plan_bytes(const std::vector<AttnSlice>& slices, int64_t chunk, int64_t cp,
                  int64_t ranks_at_once) {
  // NOTE: 24 bytes per bounding-box pair per rank, measured on varlen_causal (seqlen 2^24,
  // chunk 512, cp 8: 390 MB peak for 2e8 pairs); an overestimate for sparse masks.
  constexpr double kBytesPerPair = 24;
  double pairs = 0;
  const double c = static_cast<double>(chunk);
  for (const AttnSlice& s : slices) {
    pairs += (std::ceil(s.q.size() / c) + 1) * (std::ceil(s.k.size() / c) + 1);
  }
  return kBytesPerPair * pairs * static_cast<double>(ranks_at_once) / static_cast<double>(cp);
}

}  // namespace magi::cli
