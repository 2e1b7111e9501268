// The CLI's error for a bad command line or input file: main() prints it with the command's
// name and exits with status 2 (other failures exit 1).
#pragma once

#include <stdexcept>
#include <string>

namespace magi::cli {

class UsageError : public std::runtime_error {
 public:
  explicit UsageError(const std::string& msg) : std::runtime_error(msg) {}
};

}  // namespace magi::cli
