// The rescuer with an injected clock: a step that throws is run again after
// its backoff, and a job that keeps throwing fails with the error.
#include "jobs/lifecycle/rescuer.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "tests/support/job_fixture.hpp"
#include "jobs/lifecycle/job_transitions.hpp"

namespace batchd::jobs {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class rescue : public testing::job_fixture {
 protected:
  rescue() : job_fixture("rescuer-test") {}

  std::int64_t running_job() {
    const auto id = db->insert_job("r", "requests", "/nowhere.jsonl", 1);
    db->sql().exec("UPDATE jobs SET stage = 'running', spec = '{}' WHERE id = " + std::to_string(id));
    return id;
  }
  // One run of the job's step: throws until `good_after` runs have failed.
  void run_step(std::int64_t id, int& runs, int good_after, rescuer& r, double now) {
    const auto job = *db->job(id);
    try {
      if (runs++ < good_after) throw std::runtime_error("No space left on device");
      ASSERT_TRUE(moves->to_merged(job));
      ASSERT_TRUE(moves->finish(*db->job(id)));
    } catch (const std::runtime_error& e) {
      r.step_failed(job, e.what(), now);
    }
  }
  static bool none_running(std::int64_t) { return false; }
};

TEST(step_retry, doubles_from_the_initial_delay_up_to_the_cap) {
  const rescue_policy p{30, 100, 10};
  EXPECT_DOUBLE_EQ(step_retry_at(p, 1, 1000), 1030);
  EXPECT_DOUBLE_EQ(step_retry_at(p, 2, 1000), 1060);
  EXPECT_DOUBLE_EQ(step_retry_at(p, 3, 1000), 1100);
  EXPECT_DOUBLE_EQ(step_retry_at(p, 9, 1000), 1100);
}

TEST_F(rescue, a_step_that_throws_twice_then_succeeds_completes) {
  rescuer r(*db, *moves, {30, 3600, 5});
  const auto id = running_job();
  int runs = 0;
  double now = 1000;
  EXPECT_EQ(r.run_once(now, none_running), std::vector<std::int64_t>{id}) << "a job with no error runs";
  run_step(id, runs, 2, r, now);
  auto job = *db->job(id);
  EXPECT_EQ(job.last_error, "No space left on device");
  EXPECT_EQ(job.retry_at, 1030);
  auto doc = json::parse(std::ifstream(dirs.outbox / "r" / "job.json"));
  EXPECT_EQ(doc["last_error"], "No space left on device") << "job.json says why";
  EXPECT_FALSE(doc["retry_at"].is_null());

  EXPECT_TRUE(r.run_once(1029, none_running).empty()) << "not before its time";
  EXPECT_TRUE(r.run_once(1030, [&](std::int64_t j) { return j == id; }).empty()) << "not while it runs";
  now = 1030;
  ASSERT_EQ(r.run_once(now, none_running), std::vector<std::int64_t>{id});
  run_step(id, runs, 2, r, now);
  EXPECT_EQ(db->job(id)->retry_at, 1090) << "the second wait is twice the first";
  now = 1090;
  ASSERT_EQ(r.run_once(now, none_running), std::vector<std::int64_t>{id});
  run_step(id, runs, 2, r, now);
  job = *db->job(id);
  EXPECT_EQ(job.stage, "completed");
  EXPECT_FALSE(job.last_error) << "a move clears the step error";
  EXPECT_TRUE(r.run_once(now + 1e6, none_running).empty());
}

TEST_F(rescue, a_step_that_keeps_throwing_fails_the_job_after_the_bound_with_its_error) {
  rescuer r(*db, *moves, {30, 3600, 3});
  const auto id = running_job();
  int runs = 0;
  double now = 1000;
  for (int i = 0; i < 3; ++i) {
    const auto due = r.run_once(now, none_running);
    ASSERT_EQ(due, std::vector<std::int64_t>{id}) << "run " << i;
    run_step(id, runs, 1'000, r, now);
    now += 10'000;
  }
  const auto job = *db->job(id);
  EXPECT_EQ(job.stage, "failed");
  ASSERT_TRUE(job.error);
  EXPECT_NE(job.error->find("gave up after 3 failed tries"), std::string::npos) << *job.error;
  EXPECT_NE(job.error->find("No space left on device"), std::string::npos) << *job.error;
  EXPECT_TRUE(r.run_once(now, none_running).empty()) << "a failed job is not run again";
  auto doc = json::parse(std::ifstream(dirs.outbox / "r" / "job.json"));
  EXPECT_EQ(doc["status"], "failed");
}

}  // namespace
}  // namespace batchd::jobs
