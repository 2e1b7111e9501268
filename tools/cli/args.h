// Command-line options: `--name value`, `--name=value` or `--flag`, declared per command with
// a default and a help line. Anything else (an unknown or repeated option, a value missing or
// given to a flag, a positional argument, a value out of range) throws UsageError naming the
// option.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace magi::cli {

struct Option {
  std::string name;   // without the leading "--"
  std::string value;  // placeholder shown in help, e.g. "N"; empty: a flag without a value
  std::string def;    // default value ("" when there is none); shown in help
  std::string help;
};

class Args {
 public:
  Args(std::span<const Option> options, int argc, char** argv, int first);

  /// Whether the option was given on the command line.
  bool has(const std::string& name) const;
  /// The given value, else the declared default.
  std::string str(const std::string& name) const;
  /// str(name) as an integer in [lo, hi].
  int64_t integer(const std::string& name, int64_t lo, int64_t hi) const;
  /// str(name), which must be one of `choices`.
  std::string choice(const std::string& name, std::span<const std::string> choices) const;

 private:
  const Option& find(const std::string& name) const;
  std::span<const Option> options_;
  std::map<std::string, std::string> values_;
};

/// Parses a whole decimal integer in [lo, hi]; UsageError naming `--name` otherwise.
int64_t parse_integer(const std::string& name, const std::string& text, int64_t lo, int64_t hi);

/// The help of one command: usage line, summary, then every option with its default.
std::string help_text(const std::string& command, const std::string& summary,
                      std::span<const Option> options);

}  // namespace magi::cli
