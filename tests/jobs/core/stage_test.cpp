#include "jobs/core/stage.hpp"

#include <gtest/gtest.h>

namespace batchd::jobs {
namespace {

TEST(stage, names_round_trip) {
  for (int i = 0; i <= static_cast<int>(chunk_stage::cancelled); ++i) {
    auto s = static_cast<chunk_stage>(i);
    EXPECT_EQ(parse_chunk_stage(name(s)), s);
  }
  for (int i = 0; i <= static_cast<int>(job_stage::cancelled); ++i) {
    auto s = static_cast<job_stage>(i);
    EXPECT_EQ(parse_job_stage(name(s)), s);
  }
  EXPECT_EQ(parse_chunk_stage("flying"), std::nullopt);
}

TEST(stage, chunk_happy_path_and_its_detours) {
  using enum chunk_stage;
  const chunk_stage path[] = {assembled, uploading, uploaded, creating, polling, downloading, merged};
  for (std::size_t i = 0; i + 1 < std::size(path); ++i) EXPECT_TRUE(can_move(path[i], path[i + 1]));
  EXPECT_TRUE(can_move(creating, uploaded));
  EXPECT_TRUE(can_move(polling, uploaded));
  EXPECT_FALSE(can_move(assembled, polling)) << "no skipping the upload";
  EXPECT_FALSE(can_move(polling, cancelled)) << "a live batch is cancelled at the API, then downloaded";
  EXPECT_TRUE(can_move(uploaded, cancelled));
  EXPECT_FALSE(can_move(merged, failed)) << "terminal is final";
}

TEST(stage, job_public_status) {
  EXPECT_EQ(public_status(job_stage::assembled), "queued");
  EXPECT_EQ(public_status(job_stage::merged), "running");
  EXPECT_EQ(public_status(job_stage::cancelled), "cancelled");
  EXPECT_FALSE(can_move(job_stage::completed, job_stage::failed));
  EXPECT_TRUE(can_move(job_stage::running, job_stage::cancelled));
  EXPECT_TRUE(can_move(job_stage::running, job_stage::held)) << "out of quota: held until resumed";
  EXPECT_TRUE(can_move(job_stage::held, job_stage::running));
  EXPECT_FALSE(can_move(job_stage::merged, job_stage::held)) << "nothing more is sent once merged";
}

}  // namespace
}  // namespace batchd::jobs
