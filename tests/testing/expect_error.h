// expect_error(call, needle): call() must throw magi::Error whose message contains needle (a
// bad value must be named in the error).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "magi/check.h"

namespace magi::testing {

template <typename F>
void expect_error(F&& call, const std::string& needle) {
  try {
    call();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message '" << e.what() << "' does not mention '" << needle << "'";
  }
}

}  // namespace magi::testing
