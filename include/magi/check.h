// Errors: one exception type carrying file:line, and the checks that throw it.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace magi {

/// The one exception type of the library. `what()` reads "file:line: message".
class Error : public std::runtime_error {
 public:
  Error(const char* file, int line, const std::string& msg)
      : std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + msg) {}
};

namespace detail {
template <typename... Args>
[[noreturn]] void throw_error(const char* file, int line, const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  throw Error(file, line, os.str());
}
}  // namespace detail

}  // namespace magi

/// MAGI_CHECK(cond, parts...): throws magi::Error with the streamed parts when cond is false.
#ifndef MAGI_CHECK
#define MAGI_CHECK(cond, ...)                                                  \
  do {                                                                         \
    if (!(cond)) ::magi::detail::throw_error(__FILE__, __LINE__, __VA_ARGS__); \
  } while (0)
#endif

/// MAGI_FAIL(parts...): throws unconditionally.
#ifndef MAGI_FAIL
#define MAGI_FAIL(...) ::magi::detail::throw_error(__FILE__, __LINE__, __VA_ARGS__)
#endif
