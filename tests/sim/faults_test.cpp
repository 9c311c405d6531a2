#include "sim/faults.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace batchd::sim {
namespace {

TEST(faults, merge_sets_known_keys_and_rejects_unknown_ones) {
  fault_settings f;
  merge_faults(f, {{"rate_429", 0.5}, {"next_drop", 2}, {"counts_mismatch", true}});
  EXPECT_EQ(f.rate_429, 0.5);
  EXPECT_EQ(f.next_drop, 2);
  EXPECT_TRUE(f.counts_mismatch);
  EXPECT_THROW(merge_faults(f, {{"rate_492", 0.5}}), std::invalid_argument);
  EXPECT_THROW(merge_faults(f, {{"next_drop", "two"}}), std::invalid_argument);
  EXPECT_EQ(f.next_drop, 2) << "a rejected update changes nothing";
  nlohmann::json j = f;
  EXPECT_EQ(j["next_drop"], 2);
  EXPECT_EQ(j.size(), 36u);
}

TEST(faults, lost_replies_hit_the_next_n_creates_then_by_rate) {
  fault_engine e(3);
  merge_faults(e.settings(), {{"next_lost_reply", 2}, {"list_lag_s", 60.0}});
  EXPECT_EQ(e.settings().list_lag_s, 60.0);
  EXPECT_TRUE(e.lose_reply());
  EXPECT_TRUE(e.lose_reply());
  EXPECT_FALSE(e.lose_reply()) << "rate 0 after the counter";
  e.settings().rate_lost_reply = 1;
  EXPECT_TRUE(e.lose_reply());
}

TEST(faults, counters_hit_exactly_the_next_n_requests) {
  fault_engine e(1);
  e.settings().next_429 = 2;
  EXPECT_EQ(e.next_transport_fault().status, 429);
  EXPECT_EQ(e.next_transport_fault().status, 429);
  EXPECT_EQ(e.next_transport_fault().what, transport_fault::kind::none);
}

TEST(faults, rates_are_seeded_and_replayable) {
  auto draws = [](std::uint64_t seed) {
    fault_engine e(seed);
    e.settings().rate_5xx = 0.3;
    e.settings().rate_drop = 0.1;
    std::vector<int> v;
    for (int i = 0; i < 200; ++i) {
      auto f = e.next_transport_fault();
      v.push_back(f.what == transport_fault::kind::drop ? -1 : f.status);
    }
    return v;
  };
  EXPECT_EQ(draws(5), draws(5));
  EXPECT_NE(draws(5), draws(6));
  auto v = draws(5);
  const auto errors = std::count_if(v.begin(), v.end(), [](int s) { return s >= 500; });
  EXPECT_GT(errors, 30);
  EXPECT_LT(errors, 90);
}

}  // namespace
}  // namespace batchd::sim
