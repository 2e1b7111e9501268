// Command-line options of the form --name value (or --flag), with typed, checked getters.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "magi/check.h"

namespace magi::cli {

class Args {
 public:
  Args(int argc, char** argv, int first) {
    for (int i = first; i < argc; ++i) {
      std::string a = argv[i];
      MAGI_CHECK(a.rfind("--", 0) == 0, "unexpected argument '", a, "' (options are --name value)");
      a = a.substr(2);
      if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
        values_[a] = argv[++i];
      } else {
        values_[a] = "";
      }
    }
  }
  bool has(const std::string& k) const {
    used_.insert(k);
    return values_.count(k) > 0;
  }
  std::string str(const std::string& k, const std::string& def) const {
    used_.insert(k);
    auto it = values_.find(k);
    return it == values_.end() ? def : it->second;
  }
  int64_t integer(const std::string& k, int64_t def) const {
    const std::string v = str(k, "");
    if (v.empty()) return def;
    size_t used = 0;
    int64_t x = 0;
    try {
      x = std::stoll(v, &used);
    } catch (...) {
      used = 0;
    }
    MAGI_CHECK(used == v.size() && !v.empty(), "--", k, " = '", v, "': not an integer");
    return x;
  }
  /// Throws for any option that no getter asked about (typos).
  void check_all_used() const {
    for (const auto& [k, v] : values_) MAGI_CHECK(used_.count(k), "unknown option --", k);
  }

 private:
  std::map<std::string, std::string> values_;
  mutable std::set<std::string> used_;
};

}  // namespace magi::cli
