// Retention with an injected clock: a finished job's working files go
// `days` after it ended; its outbox, and any unfinished job's files, stay.
#include "jobs/lifecycle/retention.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include "tests/support/job_fixture.hpp"

namespace batchd::jobs {
namespace {

namespace fs = std::filesystem;

class retention : public testing::job_fixture {
 protected:
  retention() : job_fixture("retention-test") {}
  // A job with working files and an outbox, ended at `finished_at` (or unfinished).
  void job(const std::string& name, std::optional<double> finished_at) {
    const auto id = db->insert_job(name, "requests", (dirs.job_dir(name) / (name + ".jsonl")).string(), 0);
    if (finished_at) {
      SQLite::Statement q(db->sql(), "UPDATE jobs SET stage = 'completed', finished_at = ? WHERE id = ?");
      q.bind(1, *finished_at);
      q.bind(2, id);
      q.exec();
    }
    fs::create_directories(dirs.work_dir(name) / "results");
    std::ofstream(dirs.job_dir(name) / (name + ".jsonl")) << "x\n";
    std::ofstream(dirs.work_dir(name) / "results" / "chunk-1-attempt-1.results.jsonl") << "y\n";
    fs::create_directories(dirs.outbox / name);
    std::ofstream(dirs.outbox / name / "results.jsonl") << "z\n";
  }
};

TEST_F(retention, working_files_go_days_after_the_job_ended_and_the_outbox_stays) {
  const double day = 86400;
  job("old", 1 * day);
  job("recent", 9 * day);
  job("running", std::nullopt);
  const double now = 10 * day;
  const auto before = directory_bytes(dirs.state);
  EXPECT_EQ(remove_expired_work(*db, dirs, now, 7), 1);
  EXPECT_FALSE(fs::exists(dirs.job_dir("old"))) << "ended 9 days ago";
  EXPECT_TRUE(fs::exists(dirs.job_dir("recent"))) << "ended 1 day ago";
  EXPECT_TRUE(fs::exists(dirs.job_dir("running"))) << "never an unfinished job's";
  EXPECT_TRUE(fs::exists(dirs.outbox / "old" / "results.jsonl")) << "the outbox is the user's";
  EXPECT_TRUE(db->job_by_name("old")) << "the row stays";
  EXPECT_LT(directory_bytes(dirs.state), before);
  EXPECT_EQ(remove_expired_work(*db, dirs, now + 5 * day, 7), 0) << "recent ended 6 days before";
  EXPECT_EQ(remove_expired_work(*db, dirs, now + 7 * day, 7), 1) << "and 8 days before: its turn";
  EXPECT_EQ(remove_expired_work(*db, dirs, now + 100 * day, 7), 0);
}

}  // namespace
}  // namespace batchd::jobs
