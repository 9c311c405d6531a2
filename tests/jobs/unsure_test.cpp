// The unsure path's decision, pure: after a call whose answer was lost, an
// upload or create is made again only once the grace has passed since that
// call — and a restart (the same row read back) changes nothing of it.
#include <gtest/gtest.h>

#include "chunk_steps.hpp"

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

}  // namespace
}  // namespace batchd::jobs
