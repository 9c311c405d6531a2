#include "store/sqlite/sqlite_database.hpp"
#include "store/sqlite/schema.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <tuple>
#include <unistd.h>

namespace batchd::store {
namespace {

namespace fs = std::filesystem;

class store : public ::testing::Test {
 protected:
  fs::path dir = fs::temp_directory_path() / ("batchd-store-test-" + std::to_string(::getpid()));
  fs::path file = dir / "batchd.db";
  void SetUp() override {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  chunk_row chunk_for(std::int64_t job, int idx, int attempt = 1) {
    chunk_row c;
    c.job_id = job;
    c.idx = idx;
    c.attempt = attempt;
    c.stage = "assembled";
    c.path = "/x";
    c.sha256 = "abc";
    c.requests = 10;
    c.bytes = 100;
    c.est_tokens = 25;
    return c;
  }
};

TEST_F(store, migrates_once_and_reopens) {
  { sqlite_database db(file); }
  sqlite_database db(file);
  EXPECT_EQ(db.sql().execAndGet("PRAGMA user_version").getInt(), static_cast<int>(migrations.size()));
  EXPECT_EQ(db.sql().execAndGet("PRAGMA foreign_keys").getInt(), 1) << "on again after migrating";
  EXPECT_EQ(db.sql().execAndGet("PRAGMA journal_mode").getString(), "wal");
}

TEST_F(store, refuses_a_newer_schema) {
  { sqlite_database db(file); db.sql().exec("PRAGMA user_version = 99"); }
  EXPECT_THROW(sqlite_database{file}, SQLite::Exception);
}

TEST_F(store, job_names_get_a_suffix_when_taken) {
  sqlite_database backend(file);
  database& db = backend;  // as jobs/ sees it: through the interface
  EXPECT_EQ(db.free_job_name("reviews"), "reviews");
  db.insert_job("reviews", "requests", "/s/reviews.jsonl", 1);
  EXPECT_EQ(db.free_job_name("reviews"), "reviews-2");
  db.insert_job("reviews-2", "requests", "/s/reviews-2.jsonl", 1);
  EXPECT_EQ(db.free_job_name("reviews"), "reviews-3");
}

TEST_F(store, job_moves_are_guarded_and_finish_terminal_jobs) {
  sqlite_database backend(file);
  database& db = backend;  // as jobs/ sees it: through the interface
  const auto id = db.insert_job("j", "requests", "/s/j", 10);
  EXPECT_TRUE(db.move_job(id, "received", "assembled", 11));
  EXPECT_FALSE(db.move_job(id, "received", "assembled", 12)) << "no longer in 'received'";
  EXPECT_TRUE(db.move_job(id, "assembled", "failed", 13, std::string("bad file")));
  auto j = *db.job(id);
  EXPECT_EQ(j.stage, "failed");
  EXPECT_EQ(j.error, "bad file");
  EXPECT_EQ(j.finished_at, 13);
  EXPECT_EQ(db.unfinished_jobs().size(), 0u);
}

TEST_F(store, schema_rejects_unknown_stages_and_inconsistent_rows) {
  sqlite_database db(file);
  const auto id = db.insert_job("j", "requests", "/s/j", 10);
  EXPECT_THROW(db.move_job(id, "received", "flying", 11, std::nullopt), SQLite::Exception);
  EXPECT_THROW(db.sql().exec("UPDATE jobs SET finished_at = 5 WHERE id = " + std::to_string(id)),
               SQLite::Exception)
      << "finished_at only on terminal jobs";
  const auto c = db.insert_chunk(chunk_for(id, 1), 10);
  EXPECT_THROW(db.move_chunk(c, "assembled", "uploaded", {}, 11), SQLite::Exception)
      << "an uploaded chunk must have a file id";
  EXPECT_THROW(db.insert_chunk(chunk_for(id, 1), 10), SQLite::Exception) << "idx+attempt unique";
}

TEST_F(store, chunk_moves_set_fields_and_are_guarded) {
  sqlite_database backend(file);
  database& db = backend;  // as jobs/ sees it: through the interface
  const auto job = db.insert_job("j", "requests", "/s/j", 10);
  const auto c = db.insert_chunk(chunk_for(job, 1), 10);
  EXPECT_TRUE(db.move_chunk(c, "assembled", "uploading", {}, 11));
  chunk_update up;
  up.file_id = "file-1";
  EXPECT_TRUE(db.move_chunk(c, "uploading", "uploaded", up, 12));
  EXPECT_FALSE(db.move_chunk(c, "uploading", "uploaded", up, 12));
  chunk_update created;
  created.batch_id = "batch_1";
  created.batch_status = "validating";
  EXPECT_TRUE(db.move_chunk(c, "uploaded", "creating", {}, 13));
  EXPECT_TRUE(db.move_chunk(c, "creating", "polling", created, 14));
  chunk_update progress;
  progress.req_total = 10;
  progress.req_completed = 4;
  db.update_chunk(c, progress, 15);
  auto row = *db.chunk(c);
  EXPECT_EQ(row.stage, "polling");
  EXPECT_EQ(row.file_id, "file-1");
  EXPECT_EQ(row.batch_id, "batch_1");
  EXPECT_EQ(row.req_completed, 4);
  EXPECT_EQ(row.req_total, 10);
}

TEST_F(store, a_batch_usage_and_its_mismatch_are_kept_and_counted) {
  sqlite_database backend(file);
  database& db = backend;  // as jobs/ sees it: through the interface
  const auto job = db.insert_job("j", "requests", "/s/j", 10);
  chunk_update f;
  f.file_id = "file-x";
  std::int64_t ids[3];
  for (int i = 0; i < 3; ++i) {
    ids[i] = db.insert_chunk(chunk_for(job, i + 1), 10);
    chunk_update batch;
    batch.batch_id = std::string("batch_").append(std::to_string(i));
    db.move_chunk(ids[i], "assembled", "uploading", {}, 11);
    db.move_chunk(ids[i], "uploading", "uploaded", f, 11);
    db.move_chunk(ids[i], "uploaded", "creating", {}, 12);
    db.move_chunk(ids[i], "creating", "polling", batch, 13);
  }
  EXPECT_FALSE(db.chunk(ids[0])->api_input_tokens) << "no usage until the batch reports one";
  chunk_update with_usage;
  with_usage.api_input_tokens = 1000;
  with_usage.api_cached_tokens = 200;
  with_usage.api_output_tokens = 50;
  db.move_chunk(ids[0], "polling", "downloading", with_usage, 14);
  db.move_chunk(ids[1], "polling", "downloading", with_usage, 14);
  db.move_chunk(ids[2], "polling", "downloading", {}, 14);  // a batch from before 2025-09-07
  const auto row = *db.chunk(ids[0]);
  EXPECT_EQ(std::tuple(*row.api_input_tokens, *row.api_cached_tokens, *row.api_output_tokens),
            std::tuple(1000, 200, 50));
  EXPECT_EQ(db.usage_check_counts().checked, 0) << "counted once merged";
  chunk_update differs;
  differs.usage_mismatch = 1;
  db.move_chunk(ids[0], "downloading", "merged", differs, 15);
  db.move_chunk(ids[1], "downloading", "merged", {}, 15);
  db.move_chunk(ids[2], "downloading", "merged", {}, 15);
  EXPECT_TRUE(db.chunk(ids[0])->usage_mismatch);
  EXPECT_FALSE(db.chunk(ids[1])->usage_mismatch);
  const auto counts = db.usage_check_counts();
  EXPECT_EQ(std::tuple(counts.checked, counts.mismatched), std::tuple(2, 1)) << "no usage: not checked";
}

TEST_F(store, tokens_in_flight_counts_live_batches_of_the_model) {
  sqlite_database backend(file);
  database& db = backend;  // as jobs/ sees it: through the interface
  const auto job = db.insert_job("j", "requests", "/s/j", 10);
  db.set_job_request(job, "/v1/chat/completions", "gpt-4o-mini", 20);
  const auto a = db.insert_chunk(chunk_for(job, 1), 10);
  const auto b = db.insert_chunk(chunk_for(job, 2), 10);
  chunk_update f;
  f.file_id = "file-x";
  for (auto c : {a, b}) {
    db.move_chunk(c, "assembled", "uploading", {}, 11);
    db.move_chunk(c, "uploading", "uploaded", f, 11);
  }
  EXPECT_EQ(db.tokens_in_flight("gpt-4o-mini"), 0);
  db.move_chunk(a, "uploaded", "creating", {}, 12);
  EXPECT_EQ(db.tokens_in_flight("gpt-4o-mini"), 25);
  EXPECT_EQ(db.tokens_in_flight("gpt-4o"), 0);
}

TEST_F(store, a_transaction_that_throws_leaves_nothing) {
  sqlite_database backend(file);
  database& db = backend;  // as jobs/ sees it: through the interface
  EXPECT_THROW(db.transaction([&] {
    db.insert_job("a", "requests", "/s/a", 1);
    throw std::runtime_error("boom");
  }),
               std::runtime_error);
  EXPECT_FALSE(db.job_by_name("a"));
}

TEST_F(store, lists_newest_first_with_a_stage_filter) {
  sqlite_database backend(file);
  database& db = backend;  // as jobs/ sees it: through the interface
  for (int i = 0; i < 5; ++i) db.insert_job("j" + std::to_string(i), "requests", "/s", i);
  db.move_job(db.job_by_name("j1")->id, "received", "assembled", 9);
  auto page = db.jobs_newest_first(2, 0);
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].name, "j4");
  EXPECT_EQ(page[1].name, "j3");
  auto next = db.jobs_newest_first(2, page[1].id);
  ASSERT_EQ(next.size(), 2u);
  EXPECT_EQ(next[0].name, "j2");
  EXPECT_EQ(db.jobs_newest_first(10, 0, {"assembled"}).size(), 1u);
  EXPECT_EQ(db.jobs_newest_first(10, 0, {"assembled", "received"}).size(), 5u);
  EXPECT_EQ(db.jobs_by_stage()["received"], 4);
}

TEST_F(store, books_once_per_chunk_and_model_and_sums_by_key) {
  sqlite_database backend(file);
  database& db = backend;  // as jobs/ sees it: through the interface
  const auto a = db.insert_job("a", "requests", "/s/a", 0);
  const auto b = db.insert_job("b", "requests", "/s/b", 0);
  const auto ca = db.insert_chunk(chunk_for(a, 1), 0);
  const auto cb = db.insert_chunk(chunk_for(b, 1), 0);
  ledger_entry e{.job_id = a, .chunk_id = ca, .model = "gpt-4o-mini-2024-07-18", .requests = 10,
                 .prompt_tokens = 1000, .cached_tokens = 100, .completion_tokens = 50, .reasoning_tokens = 20,
                 .batch_cost = 60, .regular_cost = 120, .priced_as = "gpt-4o-mini"};
  EXPECT_TRUE(db.book(e, 1'764'201'600));  // 2025-11-27
  EXPECT_FALSE(db.book(e, 1'764'201'600)) << "a repeated merge books nothing";
  ledger_entry unknown{.job_id = b, .chunk_id = cb, .model = "gpt-9", .requests = 5, .prompt_tokens = 10,
                       .completion_tokens = 10};
  EXPECT_TRUE(db.book(unknown, 1'764'201'600 + 86'400 * 5));  // 2025-12-02
  auto by_day = db.ledger({"day", std::nullopt, std::nullopt, std::nullopt});
  ASSERT_EQ(by_day.size(), 2u);
  EXPECT_EQ(by_day[0].key, "2025-11-27");
  EXPECT_EQ(by_day[0].batch_cost, 60);
  EXPECT_EQ(by_day[1].unpriced_requests, 5);
  EXPECT_EQ(by_day[1].priced_requests, 0);
  EXPECT_EQ(db.ledger({"month", std::nullopt, std::nullopt, std::nullopt})[1].key, "2025-12");
  EXPECT_EQ(db.ledger({"job", std::nullopt, std::nullopt, std::nullopt})[0].key, "a");
  const auto by_model = db.ledger({"model", std::nullopt, std::nullopt, std::nullopt});
  EXPECT_EQ(by_model[1].key, "gpt-9");
  EXPECT_EQ(by_model[1].priced_as, "") << "an unknown price names no row";
  EXPECT_EQ(by_model[0].priced_as, "gpt-4o-mini") << "the row that priced the snapshot";
  EXPECT_EQ(by_model[0].reasoning_tokens, 20);
  auto all = db.ledger({"all", std::string("2025-11-28"), std::nullopt, std::nullopt});
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].requests, 5) << "since is inclusive, the 27th is out";
  EXPECT_TRUE(db.ledger({"all", std::nullopt, std::string("2025-11-27"), std::nullopt}).empty()) << "until is exclusive";
  EXPECT_EQ(db.ledger({"all", std::nullopt, std::nullopt, b})[0].requests, 5);
  EXPECT_EQ(db.ledger({"chunk", std::nullopt, std::nullopt, a})[0].key, std::to_string(ca));
}

TEST_F(store, a_version_two_database_migrates_with_its_jobs) {
  {
    SQLite::Database raw(file.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    for (std::size_t v = 0; v < 2; ++v) raw.exec(std::string(migrations[v]));
    raw.exec("PRAGMA user_version = 2");
    raw.exec("INSERT INTO jobs (name, kind, source, stage, created_at) VALUES ('old', 'requests', '/s', 'running', 1)");
    raw.exec("INSERT INTO chunks (job_id, idx, attempt, stage, path, sha256, requests, bytes, est_tokens, updated_at) "
             "VALUES (1, 1, 1, 'assembled', '/x', 'h', 1, 1, 1, 1)");
  }
  sqlite_database backend(file);
  database& db = backend;  // as jobs/ sees it: through the interface
  const auto job = db.job_by_name("old");
  ASSERT_TRUE(job);
  EXPECT_EQ(job->stage, "running");
  EXPECT_EQ(db.chunks_of(job->id).size(), 1u);
  db.move_job(job->id, "running", "held", 2);  // the new stage passes the CHECK
  EXPECT_EQ(db.job(job->id)->stage, "held");
}

}  // namespace
}  // namespace batchd::store
