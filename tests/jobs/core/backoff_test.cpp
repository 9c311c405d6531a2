#include "jobs/core/backoff.hpp"

#include <gtest/gtest.h>

namespace batchd::jobs {
namespace {

TEST(backoff, grows_then_caps_with_jitter_in_the_upper_half) {
  backoff_policy p{5, 2, 60};
  EXPECT_DOUBLE_EQ(backoff_delay(p, 0, 0.0), 2.5);
  EXPECT_DOUBLE_EQ(backoff_delay(p, 0, 1.0), 5);
  EXPECT_DOUBLE_EQ(backoff_delay(p, 2, 1.0), 20);
  EXPECT_DOUBLE_EQ(backoff_delay(p, 10, 1.0), 60);
  EXPECT_DOUBLE_EQ(backoff_delay(p, 1000, 0.5), 45);
}

TEST(backoff, polls_quicker_outside_in_progress_and_never_past_expiry) {
  backoff_policy p{30, 1.5, 600};
  EXPECT_LE(poll_delay(p, "validating", 0, 1.0, 0, 1e9), 2.0);
  EXPECT_LE(poll_delay(p, "finalizing", 50, 1.0, 0, 1e9), 30.0);
  EXPECT_DOUBLE_EQ(poll_delay(p, "in_progress", 50, 1.0, 0, 1e9), 600);
  EXPECT_DOUBLE_EQ(poll_delay(p, "in_progress", 50, 1.0, 1000, 1100), 101) << "look right after expires_at";
}

}  // namespace
}  // namespace batchd::jobs
