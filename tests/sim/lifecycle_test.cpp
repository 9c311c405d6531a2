#include <set>

#include "tests/sim/sim_fixture.hpp"

namespace batchd::sim {
namespace {

using nlohmann::json;
using lifecycle = sim_fixture;

std::vector<json> chat_lines(int n) {
  std::vector<json> lines;
  for (int i = 0; i < n; ++i) lines.push_back(chat_line("req-" + std::to_string(i)));
  return lines;
}

// Every custom_id of the input appears exactly once across the two files.
void expect_each_id_once(const std::vector<json>& out, const std::vector<json>& err, int n) {
  std::multiset<std::string> seen;
  for (const auto& l : out) seen.insert(l["custom_id"].get<std::string>());
  for (const auto& l : err) seen.insert(l["custom_id"].get<std::string>());
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) EXPECT_EQ(seen.count("req-" + std::to_string(i)), 1u) << i;
}

TEST_F(lifecycle, walks_validating_in_progress_finalizing_completed) {
  auto& b = batches.create("/v1/chat/completions", upload(chat_lines(50)), {{"job", "j"}}, t0);
  EXPECT_EQ(b.status, batch_status::validating);
  batches.advance(b, t0 + 9);
  EXPECT_EQ(b.status, batch_status::validating);
  EXPECT_EQ(b.total, 0);

  batches.advance(b, t0 + 10);  // validated; runs for 30 s + 1 s a request
  EXPECT_EQ(b.status, batch_status::in_progress);
  EXPECT_EQ(b.in_progress_at, t0 + 10);
  EXPECT_EQ(b.total, 50);
  EXPECT_EQ(b.model, "gpt-4o-mini");

  batches.advance(b, t0 + 10 + 40);  // half way
  EXPECT_EQ(b.status, batch_status::in_progress);
  EXPECT_EQ(b.completed, 25);

  batches.advance(b, t0 + 10 + 80);
  EXPECT_EQ(b.status, batch_status::finalizing);
  EXPECT_EQ(b.finalizing_at, t0 + 90);
  EXPECT_FALSE(b.output_file_id);

  batches.advance(b, t0 + 100);
  EXPECT_EQ(b.status, batch_status::completed);
  EXPECT_EQ(b.completed_at, t0 + 100);
  EXPECT_EQ(b.completed, 50);
  EXPECT_EQ(b.failed, 0);
  EXPECT_FALSE(b.error_file_id);
  auto out = content(b.output_file_id);
  expect_each_id_once(out, {}, 50);
  std::vector<std::string> order;
  for (const auto& l : out) order.push_back(l["custom_id"]);
  EXPECT_FALSE(std::is_sorted(order.begin(), order.end())) << "output must not follow input order";
  std::int64_t prompt = 0;
  for (const auto& l : out) {
    EXPECT_EQ(l["response"]["status_code"], 200);
    EXPECT_TRUE(l["error"].is_null());
    prompt += l["response"]["body"]["usage"]["prompt_tokens"].get<std::int64_t>();
  }
  EXPECT_EQ(b.input_tokens, prompt);
  EXPECT_EQ(stats.batch_usage["gpt-4o-mini-2024-07-18"].prompt_tokens, prompt);
  json j = b;
  EXPECT_EQ(j["usage"]["input_tokens"], prompt);
  EXPECT_TRUE(j["failed_at"].is_null());
}

TEST_F(lifecycle, usage_is_the_sum_of_the_result_lines_unless_a_fault_says_otherwise) {
  faults.settings().cache_hit_rate = 1;
  auto lines = chat_lines(30);
  for (auto& l : lines)  // long prompts, so the cache serves some tokens
    l["body"]["messages"][0]["content"] = std::string(5000, 'x');
  auto& fair = batches.create("/v1/chat/completions", upload(lines), nullptr, t0);
  faults.settings().usage_extra_input_tokens = 7;
  auto& skewed = batches.create("/v1/chat/completions", upload(chat_lines(3)), nullptr, t0);
  faults.settings().usage_extra_input_tokens = 0;
  faults.settings().usage_absent = true;
  auto& old = batches.create("/v1/chat/completions", upload(chat_lines(3)), nullptr, t0);
  batches.advance_all(t0 + 10'000);
  std::int64_t input = 0, cached = 0, output = 0;
  for (const auto& l : content(fair.output_file_id)) {
    const auto& u = l["response"]["body"]["usage"];
    input += u["prompt_tokens"].get<std::int64_t>();
    cached += u["prompt_tokens_details"]["cached_tokens"].get<std::int64_t>();
    output += u["completion_tokens"].get<std::int64_t>();
  }
  EXPECT_GT(cached, 0);
  const json usage = json(fair)["usage"];  // as the spec's Batch.usage
  EXPECT_EQ(usage["input_tokens"], input);
  EXPECT_EQ(usage["input_tokens_details"]["cached_tokens"], cached);
  EXPECT_EQ(usage["output_tokens"], output);
  EXPECT_EQ(usage["output_tokens_details"]["reasoning_tokens"], 0);
  EXPECT_EQ(usage["total_tokens"], input + output);
  std::int64_t skewed_input = 0;
  for (const auto& l : content(skewed.output_file_id))
    skewed_input += l["response"]["body"]["usage"]["prompt_tokens"].get<std::int64_t>();
  EXPECT_EQ(json(skewed)["usage"]["input_tokens"], skewed_input + 7);
  EXPECT_FALSE(json(old).contains("usage")) << "as a batch created before 2025-09-07";
}

TEST_F(lifecycle, one_late_look_sets_every_timestamp_when_it_was_due) {
  auto& b = batches.create("/v1/chat/completions", upload(chat_lines(4)), nullptr, t0);
  batches.advance(b, t0 + 10'000);
  EXPECT_EQ(b.status, batch_status::completed);
  EXPECT_EQ(b.in_progress_at, t0 + 10);
  EXPECT_EQ(b.finalizing_at, t0 + 10 + 34);
  EXPECT_EQ(b.completed_at, t0 + 54);
}

TEST_F(lifecycle, invalid_input_fails_with_line_errors) {
  auto lines = chat_lines(3);
  lines.push_back(chat_line("req-0"));
  auto& b = batches.create("/v1/chat/completions", upload(lines), nullptr, t0);
  batches.advance(b, t0 + 10);
  EXPECT_EQ(b.status, batch_status::failed);
  EXPECT_EQ(b.failed_at, t0 + 10);
  ASSERT_EQ(b.errors.size(), 1u);
  EXPECT_EQ(b.errors[0].code, "duplicate_custom_id");
  EXPECT_EQ(b.errors[0].line, 4);
  json j = b;
  EXPECT_EQ(j["errors"]["object"], "list");
  EXPECT_EQ(j["errors"]["data"][0]["line"], 4);
  EXPECT_TRUE(j["output_file_id"].is_null());
}

TEST_F(lifecycle, expiry_leaves_partial_results_and_batch_expired_lines) {
  faults.settings().expire_next = 1;
  auto& b = batches.create("/v1/chat/completions", upload(chat_lines(40)), nullptr, t0);
  batches.advance(b, t0 + 50'000);
  EXPECT_EQ(b.status, batch_status::in_progress);
  batches.advance(b, t0 + 86'400);
  EXPECT_EQ(b.status, batch_status::expired);
  EXPECT_EQ(b.expired_at, t0 + 86'400);
  auto out = content(b.output_file_id), err = content(b.error_file_id);
  EXPECT_GT(out.size(), 0u);
  EXPECT_GT(err.size(), 0u);
  expect_each_id_once(out, err, 40);
  for (const auto& l : err) {
    EXPECT_TRUE(l["response"].is_null());
    EXPECT_EQ(l["error"]["code"], "batch_expired");
  }
  EXPECT_EQ(b.completed + b.failed, 40);
}

TEST_F(lifecycle, counts_need_not_add_up_after_expiry) {
  faults.settings().expire_next = 1;
  faults.settings().counts_mismatch = true;
  auto& b = batches.create("/v1/chat/completions", upload(chat_lines(40)), nullptr, t0);
  batches.advance(b, t0 + 90'000);
  EXPECT_EQ(b.status, batch_status::expired);
  EXPECT_EQ(b.total, 40);
  EXPECT_LT(b.completed + b.failed, 40);
  EXPECT_EQ(content(b.output_file_id).size() + content(b.error_file_id).size(), 40u);
}

TEST_F(lifecycle, cancel_stops_work_and_marks_the_rest_batch_cancelled) {
  auto& b = batches.create("/v1/chat/completions", upload(chat_lines(40)), nullptr, t0);
  batches.advance(b, t0 + 10 + 35);  // half way: 30 + 40 = 70 s of running
  ASSERT_TRUE(batches.cancel(b, t0 + 45));
  EXPECT_EQ(b.status, batch_status::cancelling);
  EXPECT_EQ(b.cancelling_at, t0 + 45);
  batches.advance(b, t0 + 60);
  EXPECT_EQ(b.status, batch_status::cancelling);
  batches.advance(b, t0 + 65);
  EXPECT_EQ(b.status, batch_status::cancelled);
  EXPECT_EQ(b.cancelled_at, t0 + 65);
  auto out = content(b.output_file_id), err = content(b.error_file_id);
  EXPECT_EQ(out.size(), 20u);
  expect_each_id_once(out, err, 40);
  for (const auto& l : err) EXPECT_EQ(l["error"]["code"], "batch_cancelled");
  EXPECT_FALSE(batches.cancel(b, t0 + 70)) << "a cancelled batch cannot be cancelled again";
}

TEST_F(lifecycle, all_requests_failing_leaves_no_output_file) {
  faults.settings().fail_all_next = 1;
  auto& b = batches.create("/v1/chat/completions", upload(chat_lines(10)), nullptr, t0);
  batches.advance(b, t0 + 1000);
  EXPECT_EQ(b.status, batch_status::completed);
  EXPECT_FALSE(b.output_file_id);
  EXPECT_EQ(b.failed, 10);
  auto err = content(b.error_file_id);
  expect_each_id_once({}, err, 10);
  for (const auto& l : err) EXPECT_GE(l["response"]["status_code"].get<int>(), 400);
}

TEST_F(lifecycle, per_request_failures_carry_their_status) {
  faults.settings().request_retryable_rate = 0.3;
  faults.settings().request_final_rate = 0.2;
  auto& b = batches.create("/v1/chat/completions", upload(chat_lines(200)), nullptr, t0);
  batches.advance(b, t0 + 1000);
  auto out = content(b.output_file_id), err = content(b.error_file_id);
  expect_each_id_once(out, err, 200);
  std::map<int, int> by_status;
  for (const auto& l : err) ++by_status[l["response"]["status_code"].get<int>()];
  EXPECT_GT(by_status[400], 0);
  EXPECT_GT(by_status[429] + by_status[500], 0);
  EXPECT_EQ(b.failed, static_cast<std::int64_t>(err.size()));
  EXPECT_EQ(b.completed, static_cast<std::int64_t>(out.size()));
}

TEST_F(lifecycle, token_limit_fault_fails_validation_with_the_limit) {
  faults.settings().token_limit_next = 1;
  auto& b = batches.create("/v1/chat/completions", upload(chat_lines(3)), nullptr, t0);
  batches.advance(b, t0 + 10);
  EXPECT_EQ(b.status, batch_status::failed);
  ASSERT_EQ(b.errors.size(), 1u);
  EXPECT_EQ(b.errors[0].code, "token_limit_exceeded");
  EXPECT_NE(b.errors[0].message.find("Limit: "), std::string::npos);
  EXPECT_FALSE(b.errors[0].line);
}

TEST_F(lifecycle, enqueued_token_limit_counts_batches_in_flight) {
  auto file = upload(chat_lines(20));
  auto& first = batches.create("/v1/chat/completions", file, nullptr, t0);
  batches.advance(first, t0 + 10);
  ASSERT_EQ(first.status, batch_status::in_progress);
  faults.settings().enqueued_token_limit = first.enqueued_tokens + 5;
  auto& second = batches.create("/v1/chat/completions", file, nullptr, t0 + 11);
  batches.advance(second, t0 + 21);
  EXPECT_EQ(second.status, batch_status::failed);
  EXPECT_NE(second.errors[0].message.find("Limit: " + std::to_string(first.enqueued_tokens + 5)),
            std::string::npos);
  batches.advance(first, t0 + 1000);  // done: its tokens are no longer enqueued
  auto& third = batches.create("/v1/chat/completions", file, nullptr, t0 + 1000);
  batches.advance(third, t0 + 1010);
  EXPECT_EQ(third.status, batch_status::in_progress);
}

TEST_F(lifecycle, stuck_in_finalizing_for_a_while) {
  faults.settings().finalizing_stuck_s = 500;
  auto& b = batches.create("/v1/chat/completions", upload(chat_lines(2)), nullptr, t0);
  batches.advance(b, t0 + 400);
  EXPECT_EQ(b.status, batch_status::finalizing);
  batches.advance(b, t0 + 600);
  EXPECT_EQ(b.status, batch_status::completed);
}

TEST_F(lifecycle, same_seed_same_ids_and_order) {
  auto run_once = [](const std::filesystem::path& d) {
    file_store fs{d};
    fault_engine fe{9};
    id_source is{9};
    sim_stats st;
    batch_registry reg{{fs, fe, is, st, {10, 30, 1, 10, 20}}};
    auto tmp = fs.temp_path();
    write_lines(tmp, chat_lines(30));
    auto id = fs.add(is.make("file-"), "x.jsonl", "batch", tmp, t0, std::nullopt, 0).id;
    auto& b = reg.create("/v1/chat/completions", id, nullptr, t0);
    reg.advance(b, t0 + 1000);
    std::vector<std::string> order;
    for (const auto& l : read_lines(fs.find(*b.output_file_id)->path)) order.push_back(l["custom_id"]);
    return std::make_pair(b.id, order);
  };
  EXPECT_EQ(run_once(dir / "a"), run_once(dir / "b"));
}

}  // namespace
}  // namespace batchd::sim
