#include "jobs/results/chunk_results.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

namespace batchd::jobs {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json ok_line(const std::string& id) {
  return {{"id", "batch_req_" + id},
          {"custom_id", id},
          {"response", {{"status_code", 200}, {"request_id", "req"}, {"body", {{"usage", {{"prompt_tokens", 3}}}}}}},
          {"error", nullptr}};
}
json http_error(const std::string& id, int status, const std::string& code) {
  return {{"id", "batch_req_" + id},
          {"custom_id", id},
          {"response",
           {{"status_code", status},
            {"request_id", "req"},
            {"body", {{"error", {{"message", "m"}, {"type", "t"}, {"param", nullptr}, {"code", code}}}}}}},
          {"error", nullptr}};
}
json unrun(const std::string& id, const std::string& code) {
  return {{"id", "batch_req_" + id}, {"custom_id", id}, {"response", nullptr}, {"error", {{"code", code}, {"message", "m"}}}};
}

std::vector<json> lines_of(const fs::path& p) {
  std::vector<json> out;
  std::ifstream in(p);
  for (std::string l; std::getline(in, l);) out.push_back(json::parse(l));
  return out;
}

class chunk_results : public ::testing::Test {
 protected:
  fs::path dir = fs::temp_directory_path() / ("batchd-results-test-" + std::to_string(::getpid()));
  chunk_outcome_input in;
  void SetUp() override {
    fs::remove_all(dir);
    fs::create_directories(dir);
    in.chunk = dir / "chunk.jsonl";
    std::ofstream f(in.chunk);
    for (int i = 0; i < 8; ++i)
      f << json{{"custom_id", "r" + std::to_string(i)}, {"method", "POST"}, {"url", "/v1/chat/completions"},
                {"body", {{"model", "m"}}}}
                  .dump()
           << "\n";
  }
  void TearDown() override { fs::remove_all(dir); }
  void files(const std::vector<json>& out, const std::vector<json>& err) {
    in.output_file = dir / "out.jsonl";
    in.error_file = dir / "err.jsonl";
    std::ofstream o(*in.output_file), e(*in.error_file);
    for (const auto& l : out) o << l.dump() << "\n";
    for (const auto& l : err) e << l.dump() << "\n";
  }
};

TEST_F(chunk_results, every_request_lands_in_exactly_one_place) {
  // r0,r1 ok; r2 429; r3 500; r4 400; r5 expired; r6 twice (ok, then an error); r7 missing.
  files({ok_line("r1"), ok_line("r0"), ok_line("r6"), ok_line("r6"), ok_line("stranger")},
        {http_error("r2", 429, "rate_limit_exceeded"), http_error("r3", 500, ""), http_error("r4", 400, "invalid"),
         unrun("r5", "batch_expired"), http_error("r6", 500, "")});
  in.batch_status = "expired";
  auto r = sort_chunk_results(in, dir / "a1");
  EXPECT_EQ(r.succeeded, 3);
  EXPECT_EQ(r.failed, 1);
  EXPECT_EQ(r.retry, 4);  // r2, r3, r5, r7
  auto results = lines_of(r.results);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0], ok_line("r1")) << "success lines are kept as OpenAI sent them";
  auto errors = lines_of(r.errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]["custom_id"], "r4");
  std::vector<std::string> retry;
  for (const auto& l : lines_of(r.retry_input)) retry.push_back(l["custom_id"]);
  EXPECT_EQ(retry, (std::vector<std::string>{"r2", "r3", "r5", "r7"})) << "input order, input bytes";
}

TEST_F(chunk_results, no_attempts_left_makes_retryable_failures_final) {
  files({ok_line("r0")}, {http_error("r2", 429, "rate_limit_exceeded")});
  in.batch_status = "completed";
  in.may_retry = false;
  auto r = sort_chunk_results(in, dir / "a2");
  EXPECT_EQ(r.succeeded, 1);
  EXPECT_EQ(r.failed, 7);
  EXPECT_EQ(r.retry, 0);
  EXPECT_TRUE(r.retry_input.empty());
  std::map<std::string, std::string> codes;
  for (const auto& l : lines_of(r.errors))
    codes[l["custom_id"]] = l["error"].is_null() ? "http" : l["error"]["code"].get<std::string>();
  EXPECT_EQ(codes["r2"], "http");
  EXPECT_EQ(codes["r7"], "not_run");
}

TEST_F(chunk_results, a_user_cancel_ends_unrun_requests_as_cancelled) {
  files({ok_line("r0")}, {unrun("r1", "batch_cancelled")});
  in.batch_status = "cancelled";
  in.cancelled_by_user = true;
  auto r = sort_chunk_results(in, dir / "a3");
  EXPECT_EQ(r.succeeded, 1);
  EXPECT_EQ(r.failed, 7);
  EXPECT_EQ(r.retry, 0);
  for (const auto& l : lines_of(r.errors)) EXPECT_EQ(l["error"]["code"], "cancelled");
}

TEST_F(chunk_results, a_failed_batch_fails_every_request_with_its_reason) {
  in.batch_status = "failed";
  in.batch_error = "duplicate_custom_id on line 3";
  auto r = sort_chunk_results(in, dir / "a4");
  EXPECT_EQ(r.failed, 8);
  EXPECT_NE(lines_of(r.errors)[0]["error"]["message"].get<std::string>().find("duplicate_custom_id"),
            std::string::npos);
}

TEST_F(chunk_results, running_again_gives_the_same_files) {
  files({ok_line("r0"), ok_line("r3")}, {http_error("r2", 503, "")});
  in.batch_status = "completed";
  auto a = sort_chunk_results(in, dir / "a5");
  auto first = lines_of(a.results);
  auto b = sort_chunk_results(in, dir / "a5");
  EXPECT_EQ(lines_of(b.results), first);
  EXPECT_EQ(a.retry, b.retry);
  EXPECT_FALSE(fs::exists(dir / "a5.results.jsonl.tmp"));
}

TEST(retryable, classes) {
  EXPECT_TRUE(is_retryable_failure(429, "rate_limit_exceeded"));
  EXPECT_TRUE(is_retryable_failure(503, ""));
  EXPECT_TRUE(is_retryable_failure(0, "batch_expired"));
  EXPECT_FALSE(is_retryable_failure(400, "invalid_request_error"));
  EXPECT_FALSE(is_retryable_failure(429, "insufficient_quota"));
  EXPECT_FALSE(is_retryable_failure(0, "insufficient_quota"));
}

}  // namespace
}  // namespace batchd::jobs
