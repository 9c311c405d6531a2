// The unsure path's decision, pure: after a call whose answer was lost, an
// upload or create is made again only once the grace has passed since that
// call — and a restart (the same row read back) changes nothing of it.
#include <gtest/gtest.h>

#include "jobs/chunks/chunk_steps.hpp"

namespace batchd::jobs {
namespace {

TEST(unsure, nothing_is_sent_again_within_the_grace_counted_from_the_lost_call) {
  store::chunk_row c;
  c.updated_at = 1000;  // entered `creating`
  const double grace = 600;
  EXPECT_FALSE(may_send_again(c, 1000, grace)) << "a crash may have come right after the call";
  EXPECT_FALSE(may_send_again(c, 1599, grace));
  EXPECT_TRUE(may_send_again(c, 1600, grace));
  // The call timed out at 1900 (after a long request deadline): the grace starts there, not at 1000.
  c.unsure_at = 1900;
  EXPECT_EQ(unsure_since(c), 1900);
  EXPECT_FALSE(may_send_again(c, 2000, grace)) << "the old start would have allowed it";
  // A restart at 2100 reads the same row: 400 s of grace are left, not 600 and not 0.
  const store::chunk_row after_restart = c;
  EXPECT_FALSE(may_send_again(after_restart, 2100, grace));
  EXPECT_FALSE(may_send_again(after_restart, 2499, grace));
  EXPECT_TRUE(may_send_again(after_restart, 2500, grace));
}

// After a call of unknown outcome the looks come quickly at first (a lost
// answer is usually listed within seconds), then further apart, never more
// than an eighth of the grace apart.
TEST(unsure, looks_start_within_seconds_and_grow_apart) {
  EXPECT_EQ(look_delay(0, 600), 2);
  EXPECT_EQ(look_delay(3, 600), 2);
  EXPECT_EQ(look_delay(10, 600), 5);
  EXPECT_EQ(look_delay(100, 600), 50);
  EXPECT_EQ(look_delay(500, 600), 75) << "an eighth of the grace at most";
  EXPECT_EQ(look_delay(10, 8), 2) << "never below 2 s, however short the grace";
}

// A refusal costs what the server asked — capped, with at most a tenth of
// jitter — or, without a Retry-After, a backoff that grows with refusals in
// a row; never the grace.
TEST(unsure, a_refusal_waits_its_retry_after_capped_and_jittered) {
  EXPECT_EQ(refusal_delay(2.0, 1, 120, 0.0), 2.0);
  EXPECT_DOUBLE_EQ(refusal_delay(2.0, 1, 120, 1.0), 2.2);
  EXPECT_EQ(refusal_delay(600.0, 1, 120, 0.0), 120) << "a Retry-After past the cap is not waited out";
  EXPECT_EQ(refusal_delay(0.0, 1, 120, 0.5), 0) << "Retry-After: 0 means now";
  const double first = refusal_delay(std::nullopt, 1, 120, 1.0), third = refusal_delay(std::nullopt, 3, 120, 1.0);
  EXPECT_EQ(first, 2);
  EXPECT_EQ(third, 8);
  EXPECT_EQ(refusal_delay(std::nullopt, 30, 120, 1.0), 120);
  EXPECT_GE(refusal_delay(std::nullopt, 1, 120, 0.0), 1) << "jitter takes at most half";
}

}  // namespace
}  // namespace batchd::jobs
