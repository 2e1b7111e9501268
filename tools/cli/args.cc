#include "args.h"

#include <algorithm>
#include <charconv>
#include <sstream>

#include "usage_error.h"

namespace magi::cli {

Args::Args(std::span<const Option> options, int argc, char** argv, int first) : options_(options) {
  for (int i = first; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || a.size() == 2) {
      throw UsageError("unexpected argument '" + a + "' (options are --name value)");
    }
    const size_t eq = a.find('=');
    const std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const Option& opt = find(name);
    if (values_.count(name)) throw UsageError("--" + name + ": given more than once");
    if (opt.value.empty()) {
      if (eq != std::string::npos) throw UsageError("--" + name + ": a flag takes no value");
      values_[name] = "";
    } else if (eq != std::string::npos) {
      values_[name] = a.substr(eq + 1);
    } else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
      values_[name] = argv[++i];
    } else {
      throw UsageError("--" + name + ": missing value (" + opt.value + ")");
    }
  }
}

const Option& Args::find(const std::string& name) const {
  for (const Option& o : options_) {
    if (o.name == name) return o;
  }
  throw UsageError("unknown option --" + name);
}

bool Args::has(const std::string& name) const {
  find(name);
  return values_.count(name) > 0;
}

std::string Args::str(const std::string& name) const {
  const Option& o = find(name);
  const auto it = values_.find(name);
  return it == values_.end() ? o.def : it->second;
}

int64_t parse_integer(const std::string& name, const std::string& text, int64_t lo, int64_t hi) {
  int64_t x = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), x);
  if (text.empty() || r.ec == std::errc::invalid_argument || r.ptr != text.data() + text.size()) {
    throw UsageError("--" + name + " = '" + text + "': not an integer");
  }
  if (r.ec == std::errc::result_out_of_range || x < lo || x > hi) {
    throw UsageError("--" + name + " = " + text + ": must be in [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "]");
  }
  return x;
}

int64_t Args::integer(const std::string& name, int64_t lo, int64_t hi) const {
  return parse_integer(name, str(name), lo, hi);
}

std::string Args::choice(const std::string& name, std::span<const std::string> choices) const {
  const std::string v = str(name);
  std::string all;
  for (const std::string& c : choices) {
    if (c == v) return v;
    all += (all.empty() ? "" : ", ") + c;
  }
  throw UsageError("--" + name + " = '" + v + "': expected one of " + all);
}

std::string help_text(const std::string& command, const std::string& summary,
                      std::span<const Option> options) {
  std::string s = "usage: magi-attn " + command + " [options]\n\n" + summary + "\n\noptions:\n";
  constexpr size_t kIndent = 26, kWidth = 100;
  for (const Option& o : options) {
    std::string line = "  --" + o.name + (o.value.empty() ? "" : " " + o.value);
    line.resize(std::max(line.size() + 2, kIndent), ' ');
    std::istringstream words(o.help + (o.def.empty() ? "" : " (default: " + o.def + ")"));
    std::string word;
    bool first = true;
    while (words >> word) {
      if (!first && line.size() + 1 + word.size() > kWidth) {
        s += line + "\n";
        line = std::string(kIndent, ' ') + word;
      } else {
        line += (first ? "" : " ") + word;
      }
      first = false;
    }
    s += line + "\n";
  }
  s += "  --help                  this help\n";
  return s;
}

}  // namespace magi::cli
