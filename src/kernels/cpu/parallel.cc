#include "kernels/cpu/parallel.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace magi::cpu {

namespace {
std::atomic<int> g_threads{0};  // 0: the hardware's count
}  // namespace

int num_threads() {
  static const int hw = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const int n = g_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : hw;
}

void set_num_threads(int n) { g_threads.store(std::max(0, n), std::memory_order_relaxed); }

int threads_for(double work, double min_work_per_thread) {
  const double t = work / std::max(min_work_per_thread, 1.0);
  return std::clamp(static_cast<int>(t), 1, num_threads());
}

void parallel_for(int64_t n, int max_threads, const std::function<void(int64_t)>& body) {
  if (n <= 0) return;
  const int threads = static_cast<int>(std::clamp<int64_t>(max_threads, 1, n));
  std::atomic<int64_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&] {
    for (int64_t i = next++; i < n; i = next++) {
      try {
        body(i);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        next = n;  // NOTE: stop handing out items; the call fails anyway.
      }
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace magi::cpu
