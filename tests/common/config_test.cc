// DispatchConfig::validate: uneven shards only with the solvers that allow unequal chunk counts.
#include <gtest/gtest.h>

#include <string>

#include "magi/check.h"
#include "magi/config.h"

namespace magi {
namespace {

TEST(DispatchConfig, UnevenShardTakesMinHeapAndSequentialOnly) {
  DispatchConfig c;
  c.uneven_shard = true;
  for (DispatchAlgType t : {DispatchAlgType::kMinHeap, DispatchAlgType::kSequential}) {
    c.alg.type = t;
    EXPECT_NO_THROW(c.validate()) << to_string(t);
  }
  for (DispatchAlgType t : {DispatchAlgType::kSortedSequentialSelect, DispatchAlgType::kToppHeap,
                            DispatchAlgType::kExact}) {
    c.alg.type = t;
    try {
      c.validate();
      ADD_FAILURE() << "no error for " << to_string(t);
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("uneven_shard = true"), std::string::npos) << what;
      EXPECT_NE(what.find(to_string(t)), std::string::npos) << what;
    }
    c.uneven_shard = false;
    EXPECT_NO_THROW(c.validate()) << to_string(t);  // padded shards take every solver
    c.uneven_shard = true;
  }
  // The flag is part of the value (and so of the key).
  EXPECT_NE(DispatchConfig{}, (DispatchConfig{{}, std::nullopt, true}));
}

}  // namespace
}  // namespace magi
