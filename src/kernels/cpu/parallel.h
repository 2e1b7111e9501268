// A minimal fork-join helper for the CPU kernels: no pool, threads live for one call.
#pragma once

#include <cstdint>
#include <functional>

namespace magi::cpu {

/// Worker threads the CPU kernels use: set_num_threads()'s value, else
/// std::thread::hardware_concurrency(), at least 1.
int num_threads();

/// Caps the CPU kernels' worker threads at n >= 1 (0: back to the hardware's count). For tools
/// and tests; calls in flight keep the value they started with.
void set_num_threads(int n);

/// Runs body(item) for every item in [0, n) on up to `max_threads` threads (the calling thread
/// is one of them). Items are handed out dynamically in increasing order, so callers whose
/// items write disjoint memory get results that do not depend on the schedule. The first
/// exception thrown by a body is rethrown after all threads have joined.
void parallel_for(int64_t n, int max_threads, const std::function<void(int64_t)>& body);

/// Threads worth using for `work` units of roughly equal cost when one thread should get at
/// least `min_work_per_thread` units: between 1 and num_threads().
int threads_for(double work, double min_work_per_thread);

}  // namespace magi::cpu
