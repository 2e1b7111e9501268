// Errors: one exception type carrying file:line, and the checks that throw it.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace magi {

namespace detail {

/// `file` relative to the source tree when it lies under MAGI_SOURCE_ROOT (the build defines it
/// as the repository's absolute path with a trailing '/'), else `file` as it is.
inline const char* source_relative(const char* file) {
#ifdef MAGI_SOURCE_ROOT
  constexpr std::string_view root = MAGI_SOURCE_ROOT;
  if (std::string_view(file).substr(0, root.size()) == root) return file + root.size();
#endif
  return file;
}

}  // namespace detail

/// The one exception type of the library. `what()` reads "file:line: message", with the file
/// relative to the repository (src/api/key.cc), not the path of the build machine.
class Error : public std::runtime_error {
 public:
  Error(const char* file, int line, const std::string& msg)
      : std::runtime_error(std::string(detail::source_relative(file)) + ":" + std::to_string(line) +
                           ": " + msg) {}
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
