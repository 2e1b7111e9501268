#include "slice_file.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "json.h"
#include "magi/check.h"
#include "usage_error.h"

namespace magi::cli {
namespace {

[[noreturn]] void bad(const std::string& name, const JsonValue& v, const std::string& msg) {
  throw UsageError("slice file '" + name + "': offset " + std::to_string(v.offset) + ": " + msg);
}

int64_t bound(const std::string& name, const JsonValue& v, const char* what) {
  if (!v.integral || v.int_value < 0 || v.int_value > kMaxSliceFileSeqlen) {
    bad(name, v,
        std::string(what) + ": expected an integer in [0, 2^40], got a " + std::string(v.kind()));
  }
  return v.int_value;
}

AttnSlice slice(const std::string& name, const JsonValue& v, size_t index) {
  const std::string at = "slice " + std::to_string(index);
  if (!v.is_array() || std::get<JsonValue::Array>(v.v).size() != 5) {
    bad(name, v, at + ": expected [q_start, q_end, k_start, k_end, type]");
  }
  const auto& a = std::get<JsonValue::Array>(v.v);
  AttnSlice s;
  s.q = {bound(name, a[0], "q_start"), bound(name, a[1], "q_end")};
  s.k = {bound(name, a[2], "k_start"), bound(name, a[3], "k_end")};
  try {
    if (a[4].is_string()) {
      s.type = mask_type_from_string(std::get<std::string>(a[4].v));
    } else if (a[4].integral) {
      s.type = mask_type_from_int(a[4].int_value);
    } else {
      bad(name, a[4], at + ": type: expected a name or a code 0..3");
    }
  } catch (const Error& e) {
    bad(name, a[4], at + ": " + e.what());
  }
  return s;
}

std::vector<AttnSlice> slices(const std::string& name, const JsonValue& v) {
  if (!v.is_array()) bad(name, v, "\"slices\": expected a list, got a " + std::string(v.kind()));
  std::vector<AttnSlice> out;
  const auto& a = std::get<JsonValue::Array>(v.v);
  for (size_t i = 0; i < a.size(); ++i) out.push_back(slice(name, a[i], i));
  return out;
}

}  // namespace

Mask parse_slice_text(std::string_view text, const std::string& name) {
  JsonValue doc;
  try {
    doc = parse_json(text);
  } catch (const JsonError& e) {
    throw UsageError("slice file '" + name + "': malformed JSON at " + e.what());
  }
  Mask m{name, 0, {}};
  if (doc.is_array()) {
    m.slices = slices(name, doc);
  } else if (doc.is_object()) {
    bool found = false;
    for (const auto& [key, value] : std::get<JsonValue::Object>(doc.v)) {
      if (key == "slices") {
        m.slices = slices(name, value);
        found = true;
      } else if (key == "seqlen") {
        m.seqlen = bound(name, value, "\"seqlen\"");
        if (m.seqlen < 1) bad(name, value, "\"seqlen\": must be >= 1");
      }
    }
    if (!found) bad(name, doc, "an object needs a \"slices\" list");
  } else {
    bad(name, doc, "expected a list of slices or an object, got a " + std::string(doc.kind()));
  }
  if (m.seqlen == 0) {  // no "seqlen": the largest end
    for (const AttnSlice& s : m.slices) m.seqlen = std::max({m.seqlen, s.q.end, s.k.end});
  }
  if (m.seqlen < 1) bad(name, doc, "no token: give \"seqlen\" or a non-empty slice");
  try {
    check_slices(m.slices, m.seqlen, m.seqlen);
  } catch (const Error& e) {
    throw UsageError("slice file '" + name + "': " + e.what());
  }
  return m;
}

Mask read_slice_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f.good()) throw UsageError("--slices '" + path + "': cannot open the file");
  std::stringstream ss;
  ss << f.rdbuf();
  if (f.bad()) throw UsageError("--slices '" + path + "': cannot read the file");
  return parse_slice_text(ss.str(), path);
}

}  // namespace magi::cli
