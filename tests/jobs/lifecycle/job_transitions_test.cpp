// The named moves against a real SQLite file: what the stage table forbids
// is refused and changes nothing, a stale row is told apart, and a job whose
// results come back short never ends completed.
#include "jobs/lifecycle/job_transitions.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <fstream>
#include <functional>
#include <map>
#include <set>

#include "jobs/intake/intake.hpp"
#include "jobs/lifecycle/job_assembly.hpp"
#include "tests/support/job_fixture.hpp"
#include "jobs/kinds/job_kind.hpp"
#include "jobs/results/job_report.hpp"

namespace batchd::jobs {
namespace {

using nlohmann::json;
using testing::chat;
using testing::lines_of;
namespace fs = std::filesystem;

class transitions : public testing::job_fixture {
 protected:
  transitions() : job_fixture("transitions-test") {}

  // A job put straight into `stage`, as if it had got there.
  store::job_row job_in(job_stage stage) {
    static int n = 0;
    const auto id = db->insert_job("j" + std::to_string(++n), "requests", "/nowhere.jsonl", 1);
    // A spec with nothing asked: these jobs have no requests to account for.
    SQLite::Statement q(db->sql(), "UPDATE jobs SET stage = ?, finished_at = ?, spec = '{}' WHERE id = ?");
    q.bind(1, std::string(name(stage)));
    if (is_terminal(stage)) q.bind(2, 2.0);
    else q.bind(2);
    q.bind(3, id);
    q.exec();
    return *db->job(id);
  }

  // A request file of `ids`, taken in and assembled into one chunk.
  store::job_row assembled_job(const std::vector<std::string>& ids) {
    std::string content;
    for (const auto& id : ids) content += chat(id) + "\n";
    std::ofstream(dirs.inbox / "short.jsonl") << content;
    const auto id = accept_dropped_file(*db, dirs, dirs.inbox / "short.jsonl", {}, 1);
    EXPECT_FALSE(assemble_job(*moves, dirs, *db->job(*id), {}));
    return *db->job(*id);
  }
};

using named_move = std::function<job_result(job_transitions&, const store::job_row&)>;

TEST_F(transitions, every_move_the_table_forbids_is_refused_and_changes_nothing) {
  using enum job_stage;
  const std::set<job_stage> unfinished = {received, assembled, held, running, merged};
  // Written out here, not read from stage.cpp: the test states the table.
  const std::map<std::string, std::pair<named_move, std::set<job_stage>>> moves_from = {
      {"to_assembled", {[](auto& m, auto& j) { return m.to_assembled(j, assembly{}); }, {received}}},
      {"to_rejected", {[](auto& m, auto& j) { return m.to_rejected(j, "bad", "/x.error.json"); }, {received}}},
      {"to_held", {[](auto& m, auto& j) { return m.to_held(j, "over budget"); }, {assembled, held}}},
      {"to_quota_held", {[](auto& m, auto& j) { return m.to_quota_held(j, "out of quota", 0); }, {running}}},
      {"to_running", {[](auto& m, auto& j) { return m.to_running(j); }, {assembled, held}}},
      {"to_merged", {[](auto& m, auto& j) { return m.to_merged(j); }, {running}}},
      {"finish", {[](auto& m, auto& j) { return m.finish(j); }, {merged}}},
      {"fail", {[](auto& m, auto& j) { return m.fail(j, "broken"); }, unfinished}},
      {"cancel_now", {[](auto& m, auto& j) { return m.cancel_now(j); }, unfinished}},
  };
  int refused = 0;
  for (const auto& [what, move] : moves_from) {
    for (const auto from : all_job_stages) {
      const auto job = job_in(from);
      const auto r = move.first(*moves, job);
      if (move.second.count(from)) {
        EXPECT_TRUE(r) << what << " from " << name(from) << ": " << (r ? "" : r.error().message());
        continue;
      }
      ++refused;
      ASSERT_FALSE(r) << what << " from " << name(from) << " must be refused";
      EXPECT_EQ(r.error(), make_error_code(errc::forbidden_move)) << what << " from " << name(from);
      EXPECT_EQ(db->job(job.id)->stage, name(from)) << what << " from " << name(from) << " changed the row";
    }
  }
  EXPECT_EQ(refused, 9 * 8 - (1 + 1 + 2 + 1 + 2 + 1 + 1 + 5 + 5));
}

TEST_F(transitions, a_stale_row_is_told_apart_from_a_forbidden_move) {
  const auto job = job_in(job_stage::assembled);
  ASSERT_TRUE(moves->to_running(job));
  const auto again = moves->to_running(job);  // the caller's row still says assembled
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), make_error_code(errc::wrong_stage));
  EXPECT_EQ(db->job(job.id)->stage, "running");
}

TEST_F(transitions, each_move_rewrites_job_json) {
  auto job = job_in(job_stage::assembled);
  ASSERT_TRUE(moves->to_held(job, "over the daily budget"));
  auto doc = json::parse(std::ifstream(dirs.outbox / job.name / "job.json"));
  EXPECT_EQ(doc["status"], "held");
  EXPECT_EQ(doc["held_reason"], "over the daily budget");
}

TEST_F(transitions, results_that_come_back_short_fail_the_job_with_an_error_line_per_missing_id) {
  auto job = assembled_job({"a", "b", "c", "d", "e"});
  auto chunk = db->chunks_of(job.id).at(0);
  // The chunk's sorted results hold three of its five requests, one of them twice.
  const auto prefix = attempt_prefix(dirs, job, chunk);
  fs::create_directories(prefix.parent_path());
  {
    std::ofstream results(prefix.string() + ".results.jsonl");
    for (const auto* id : {"a", "c", "c", "e"})
      results << json{{"custom_id", id}, {"response", {{"status_code", 200}, {"body", json::object()}}}}.dump()
              << "\n";
    std::ofstream(prefix.string() + ".errors.jsonl");
  }
  store::chunk_update u;
  u.file_id = "file-1";
  u.batch_id = "batch-1";
  u.merged_succeeded = 3;
  ASSERT_TRUE(db->move_chunk(chunk.id, "assembled", "merged", u, 5));  // as the steps would have left it
  ASSERT_TRUE(moves->to_running(job));
  job = *moves->to_merged(*db->job(job.id));

  const auto ended = moves->finish(job);
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->stage, "failed") << "never completed short";
  ASSERT_TRUE(ended->error);
  EXPECT_NE(ended->error->find("2 of 5 requests have no result"), std::string::npos) << *ended->error;
  EXPECT_NE(ended->error->find("chunk 1 accounted for 3 of its 5"), std::string::npos) << *ended->error;
  EXPECT_EQ(ended->succeeded, 3);
  EXPECT_EQ(ended->failed, 2);

  const auto results = lines_of(dirs.outbox / job.name / "results.jsonl");
  const auto errors = lines_of(dirs.outbox / job.name / "errors.jsonl");
  std::vector<std::string> ok, missing;
  for (const auto& l : results) ok.push_back(l["custom_id"]);
  for (const auto& l : errors) {
    EXPECT_EQ(l["error"]["code"], "batchd_result_missing");
    missing.push_back(l["custom_id"]);
  }
  EXPECT_EQ(ok, (std::vector<std::string>{"a", "c", "e"})) << "each id once";
  EXPECT_EQ(missing, (std::vector<std::string>{"b", "d"}));
  auto doc = json::parse(std::ifstream(dirs.outbox / job.name / "job.json"));
  EXPECT_EQ(doc["status"], "failed");
  EXPECT_EQ(doc["counts"]["succeeded"].get<int>() + doc["counts"]["failed"].get<int>(), 5);
}

TEST_F(transitions, a_job_with_every_result_completes) {
  auto job = assembled_job({"a", "b"});
  auto chunk = db->chunks_of(job.id).at(0);
  const auto prefix = attempt_prefix(dirs, job, chunk);
  fs::create_directories(prefix.parent_path());
  std::ofstream(prefix.string() + ".results.jsonl") << json{{"custom_id", "b"}}.dump() << "\n";
  std::ofstream(prefix.string() + ".errors.jsonl") << json{{"custom_id", "a"}, {"error", {{"code", "x"}}}}.dump()
                                                   << "\n";
  store::chunk_update u;
  u.file_id = "file-1";
  u.batch_id = "batch-1";
  ASSERT_TRUE(db->move_chunk(chunk.id, "assembled", "merged", u, 5));
  ASSERT_TRUE(moves->to_running(job));
  const auto ended = moves->finish(*moves->to_merged(*db->job(job.id)));
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->stage, "completed");
  EXPECT_FALSE(ended->error);
}

TEST_F(transitions, a_failed_job_still_accounts_for_every_request) {
  auto job = assembled_job({"a", "b", "c"});
  ASSERT_TRUE(moves->to_running(job));
  const auto ended = moves->fail(*db->job(job.id), "the disk is full");
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->stage, "failed");
  EXPECT_EQ(ended->error, "the disk is full");
  const auto errors = lines_of(dirs.outbox / job.name / "errors.jsonl");
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_NE(errors[0]["error"]["message"].get<std::string>().find("the disk is full"), std::string::npos);
}


TEST_F(transitions, a_job_assembled_by_an_earlier_batchd_still_finishes_with_every_id) {
  // As batchd 0.1 left it: no spec, no id files, results in the job's folder.
  const auto source = dirs.job_dir("old") / "old.jsonl";
  fs::create_directories(source.parent_path());
  std::ofstream(source) << chat("x") << "\n" << chat("y") << "\n" << chat("z") << "\n";
  const auto id = db->insert_job("old", "requests", source.string(), 1);
  db->sql().exec("UPDATE jobs SET stage = 'merged', total = 3 WHERE id = " + std::to_string(id));
  store::chunk_row c;
  c.job_id = id;
  c.idx = 1;
  c.attempt = 1;
  c.stage = "merged";
  c.path = source.string();
  c.sha256 = "0";
  c.requests = 3;
  c.bytes = static_cast<std::int64_t>(fs::file_size(source));
  db->sql().exec("PRAGMA ignore_check_constraints = ON");
  db->insert_chunk(c, 1);
  db->sql().exec("UPDATE chunks SET file_id = 'f', batch_id = 'b'");
  db->sql().exec("PRAGMA ignore_check_constraints = OFF");
  const auto prefix = dirs.job_dir("old") / "results" / "chunk-1-attempt-1";
  fs::create_directories(prefix.parent_path());
  std::ofstream(prefix.string() + ".results.jsonl") << json{{"custom_id", "x"}}.dump() << "\n"
                                                    << json{{"custom_id", "z"}}.dump() << "\n";
  std::ofstream(prefix.string() + ".errors.jsonl") << json{{"custom_id", "y"}, {"error", {{"code", "e"}}}}.dump() << "\n";
  const auto ended = moves->finish(*db->job(id));
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->stage, "completed") << ended->error.value_or("");
  EXPECT_EQ(lines_of(dirs.outbox / "old" / "results.jsonl").size(), 2u);
  EXPECT_EQ(lines_of(dirs.outbox / "old" / "errors.jsonl").size(), 1u);
  EXPECT_FALSE(db->job(id)->spec.empty()) << "kept from now on";
}

}  // namespace
}  // namespace batchd::jobs
