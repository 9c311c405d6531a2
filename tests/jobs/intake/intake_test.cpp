#include "jobs/intake/intake.hpp"
#include "jobs/lifecycle/job_assembly.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/support/job_fixture.hpp"
#include "jobs/results/job_report.hpp"

namespace batchd::jobs {
namespace {

using nlohmann::json;
using testing::chat;
namespace fs = std::filesystem;

class intake : public testing::job_fixture {
 protected:
  intake() : job_fixture("intake-test") {}
  jobfiles::intake_options opt;
  void SetUp() override {
    job_fixture::SetUp();
    opt.limits.max_requests = 2;
  }
  fs::path drop(const std::string& name, const std::string& content) {
    std::ofstream(dirs.inbox / name) << content;
    return dirs.inbox / name;
  }
};

TEST_F(intake, a_good_file_becomes_an_assembled_job_with_chunks) {
  auto id = accept_dropped_file(*db, dirs, drop("reviews.jsonl", chat("a") + "\n" + chat("b") + "\n" + chat("c") + "\n"), opt, 100);
  ASSERT_TRUE(id);
  EXPECT_FALSE(fs::exists(dirs.inbox / "reviews.jsonl"));
  auto job = *db->job(*id);
  EXPECT_EQ(job.name, "reviews");
  EXPECT_EQ(job.stage, "received");
  EXPECT_TRUE(fs::exists(job.source)) << "the original is kept in the state directory";
  assemble_job(*moves, dirs, *db->job(*id), opt);
  job = *db->job(*id);
  EXPECT_EQ(job.stage, "assembled");
  EXPECT_EQ(job.total, 3);
  EXPECT_EQ(job.model, "gpt-4o-mini");
  auto chunks = db->chunks_of(*id);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].requests, 2);
  EXPECT_EQ(chunks[1].requests, 1);
  EXPECT_EQ(chunks[1].stage, "assembled");
  // What each chunk asked is kept apart from the user's file, as validated.
  std::ifstream ids(chunks[0].ids_path);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(ids), {}), "a\nb\n");
  EXPECT_EQ(fs::path(chunks[0].ids_path).parent_path(), dirs.work_dir("reviews"));
  write_job_json(dirs, job, chunks, nlohmann::json::object());
  auto doc = json::parse(std::ifstream(dirs.outbox / "reviews" / "job.json"));
  EXPECT_EQ(doc["status"], "queued");
  EXPECT_EQ(doc["counts"]["total"], 3);
}

TEST_F(intake, a_second_file_of_the_same_name_gets_a_suffix) {
  auto a = accept_dropped_file(*db, dirs, drop("r.jsonl", chat("a") + "\n"), opt, 1);
  auto b = accept_dropped_file(*db, dirs, drop("r.jsonl", chat("a") + "\n"), opt, 2);
  EXPECT_EQ(db->job(*a)->name, "r");
  EXPECT_EQ(db->job(*b)->name, "r-2");
}

TEST_F(intake, bad_lines_reject_the_file_with_an_error_file) {
  const std::string content = chat("a") + "\n{oops\n" + chat("a") + "\n";
  auto id = accept_dropped_file(*db, dirs, drop("bad.jsonl", content), opt, 1);
  assemble_job(*moves, dirs, *db->job(*id), opt);
  EXPECT_EQ(db->job(*id)->stage, "failed");
  ASSERT_TRUE(fs::exists(dirs.rejected / "bad.jsonl"));
  std::ifstream in(dirs.rejected / "bad.jsonl");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), content) << "moved unchanged";
  auto report = json::parse(std::ifstream(dirs.rejected / "bad.jsonl.error.json"));
  EXPECT_EQ(report["lines_with_errors"], 2);
  EXPECT_EQ(report["errors"][0]["line"], 2);
  EXPECT_EQ(report["errors"][1]["line"], 3);
  EXPECT_FALSE(report["errors"][1]["hint"].get<std::string>().empty());
  EXPECT_FALSE(report["fix"].get<std::string>().empty());
  EXPECT_TRUE(db->chunks_of(*id).empty());
}

TEST_F(intake, refuses_symlinks_unknown_kinds_and_oversize_files) {
  drop("target.txt", "x");
  fs::create_symlink(dirs.inbox / "target.txt", dirs.inbox / "link.jsonl");
  EXPECT_FALSE(accept_dropped_file(*db, dirs, dirs.inbox / "link.jsonl", opt, 1));
  EXPECT_TRUE(fs::is_symlink(dirs.rejected / "link.jsonl"));
  EXPECT_TRUE(fs::exists(dirs.rejected / "link.jsonl.error.json"));
  EXPECT_FALSE(accept_dropped_file(*db, dirs, dirs.inbox / "target.txt", opt, 1));
  EXPECT_TRUE(fs::exists(dirs.rejected / "target.txt"));
  opt.max_file_bytes = 10;
  EXPECT_FALSE(accept_dropped_file(*db, dirs, drop("big.jsonl", std::string(100, 'x')), opt, 1));
  auto why = json::parse(std::ifstream(dirs.rejected / "big.jsonl.error.json"));
  EXPECT_NE(why["error"].get<std::string>().find("over the limit"), std::string::npos);
  EXPECT_FALSE(accept_dropped_file(*db, dirs, dirs.inbox / "gone.jsonl", opt, 1)) << "vanished: nothing to do";
}

TEST_F(intake, candidate_names) {
  EXPECT_TRUE(is_candidate_name("a.jsonl"));
  EXPECT_FALSE(is_candidate_name(".a.jsonl"));
  EXPECT_FALSE(is_candidate_name("a.jsonl.tmp"));
  EXPECT_FALSE(is_candidate_name("a.jsonl.part"));
  EXPECT_EQ(job_base_name("q3.job.json"), "q3");
  EXPECT_EQ(job_base_name("reviews.jsonl"), "reviews");
}

TEST_F(intake, a_folder_moved_in_before_a_crash_is_adopted) {
  fs::create_directories(dirs.job_dir("orphan"));
  std::ofstream(dirs.job_dir("orphan") / "orphan.jsonl") << chat("a") << "\n";
  EXPECT_EQ(adopt_orphans(*db, dirs, 5), 1);
  EXPECT_EQ(adopt_orphans(*db, dirs, 6), 0);
  EXPECT_EQ(db->job_by_name("orphan")->stage, "received");
}

}  // namespace
}  // namespace batchd::jobs
