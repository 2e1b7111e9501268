// Environment knobs: every MAGI_* variable the core reads is declared once in env.cc with its
// type, default and meaning, and read through these typed getters (STYLE.md 18). A value that
// does not parse is an error naming the variable, never silently the default.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace magi::env {

enum class KnobType : int8_t { kFlag, kInt, kChoice };

struct Knob {
  std::string_view name;
  KnobType type;
  std::string_view default_value;
  std::string_view help;
};

/// Every knob of the core (docs/ lists the same).
std::span<const Knob> knobs();

/// A flag knob: unset or empty gives its default; 1/true/on/yes and 0/false/off/no (any case)
/// parse; anything else throws magi::Error naming the variable. Read on every call.
bool flag(std::string_view name);

/// An integer knob in [lo, hi]; unset or empty gives its default. Read on every call.
int64_t integer(std::string_view name, int64_t lo, int64_t hi);

/// A choice knob: unset or empty gives its default; otherwise one of `allowed` (any case),
/// returned in lower case; anything else throws magi::Error naming the variable and the
/// allowed values. Read on every call.
std::string choice(std::string_view name, std::initializer_list<std::string_view> allowed);

}  // namespace magi::env
