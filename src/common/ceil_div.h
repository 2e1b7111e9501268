// Ceiling division of sizes without overflow near int64's end ((a + b - 1) / b would overflow).
#pragma once

#include <cstdint>

namespace magi {

/// ceil(a / b) for a >= 0, b >= 1.
constexpr int64_t ceil_div(int64_t a, int64_t b) { return a / b + (a % b != 0); }

}  // namespace magi
