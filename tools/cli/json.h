// A strict JSON reader (RFC 8259) for the CLI's input files: the whole text must be one value
// with nothing but whitespace around it. Malformed input (truncated, trailing garbage or
// commas, bad escapes, control characters in strings, nesting deeper than kMaxDepth) throws
// JsonError naming the byte offset; the reader never loops without consuming input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace magi::cli {

class JsonError : public std::runtime_error {
 public:
  JsonError(size_t offset, const std::string& msg)
      : std::runtime_error("offset " + std::to_string(offset) + ": " + msg), offset_(offset) {}
  size_t offset() const { return offset_; }

 private:
  size_t offset_;
};

/// One JSON value; `offset` is where it starts in the text (for error messages).
struct JsonValue {
  struct Null {};
  using Array = std::vector<JsonValue>;
  using Object = std::vector<std::pair<std::string, JsonValue>>;  // in text order
  std::variant<Null, bool, double, std::string, Array, Object> v;
  size_t offset = 0;
  bool integral = false;  // a number written without fraction or exponent
  int64_t int_value = 0;  // its value when integral and within int64

  bool is_array() const { return std::holds_alternative<Array>(v); }
  bool is_object() const { return std::holds_alternative<Object>(v); }
  bool is_string() const { return std::holds_alternative<std::string>(v); }
  bool is_number() const { return std::holds_alternative<double>(v); }
  /// Kind name for messages: null, bool, number, string, array, object.
  std::string_view kind() const;
};

inline constexpr int kMaxJsonDepth = 64;

/// Parses `text` (UTF-8 is passed through unchecked inside strings).
JsonValue parse_json(std::string_view text);

/// `text` as a JSON string literal: quotes, backslashes and control characters escaped; a byte
/// that is not part of well-formed UTF-8 (a file name may hold any) is written as the code
/// point of the same value, so the output is always valid UTF-8.
std::string json_quote(std::string_view text);

/// A JSON number (10 significant digits), or null when `x` is not finite.
std::string json_number(double x);

}  // namespace magi::cli
