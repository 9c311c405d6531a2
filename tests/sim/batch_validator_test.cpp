#include "sim/batch_validator.hpp"

#include "tests/sim/sim_fixture.hpp"

namespace batchd::sim {
namespace {

using nlohmann::json;

class validator : public ::testing::Test {
 protected:
  std::filesystem::path dir = scratch_dir("validator");
  std::filesystem::path file = dir / "in.jsonl";
  ~validator() override { std::filesystem::remove_all(dir); }
  validation_report run(const std::vector<json>& lines, const std::string& endpoint = "/v1/chat/completions") {
    write_lines(file, lines);
    return validate_batch_input(file, endpoint);
  }
};

TEST_F(validator, good_file_passes_with_line_offsets) {
  auto r = run({chat_line("a"), chat_line("b")});
  EXPECT_TRUE(r.errors.empty());
  ASSERT_EQ(r.lines.size(), 2u);
  EXPECT_EQ(r.lines[0].offset, 0u);
  EXPECT_EQ(r.lines[1].offset, r.lines[0].length + 1);
  EXPECT_EQ(r.model, "gpt-4o-mini");
  EXPECT_GT(r.prompt_tokens, 0);
}

TEST_F(validator, each_line_error_is_reported_with_its_line) {
  auto wrong_url = chat_line("c");
  wrong_url["url"] = "/v1/embeddings";
  auto wrong_method = chat_line("d");
  wrong_method["method"] = "GET";
  auto no_id = chat_line("e");
  no_id.erase("custom_id");
  auto r = run({chat_line("a"), chat_line("a"), chat_line("b", "gpt-4o"), wrong_url, wrong_method,
                no_id, json::array()});
  ASSERT_EQ(r.errors.size(), 6u);
  const std::vector<std::pair<std::string, int>> expected = {
      {"duplicate_custom_id", 2}, {"mismatched_model", 3},           {"invalid_url", 4},
      {"invalid_method", 5},      {"missing_required_parameter", 6}, {"invalid_json_line", 7}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(r.errors[i].code, expected[i].first);
    EXPECT_EQ(r.errors[i].line, expected[i].second);
  }
}

TEST_F(validator, not_json_is_reported) {
  std::ofstream(file) << chat_line("a").dump() << "\n{not json\n";
  auto r = validate_batch_input(file, "/v1/chat/completions");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].code, "invalid_json_line");
  EXPECT_EQ(r.errors[0].line, 2);
}

TEST_F(validator, request_limit) {
  std::vector<json> lines;
  for (int i = 0; i < 50'001; ++i) lines.push_back(chat_line(std::to_string(i)));
  auto r = run(lines);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].code, "too_many_requests");
  lines.pop_back();
  EXPECT_TRUE(run(lines).errors.empty());
}

TEST_F(validator, embedding_input_limit_counts_array_items) {
  std::vector<json> lines;
  std::vector<std::string> inputs(2000, "x");
  for (int i = 0; i < 26; ++i)  // 52,000 inputs in 26 requests
    lines.push_back({{"custom_id", std::to_string(i)},
                     {"method", "POST"},
                     {"url", "/v1/embeddings"},
                     {"body", {{"model", "text-embedding-3-small"}, {"input", inputs}}}});
  auto r = run(lines, "/v1/embeddings");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].code, "too_many_embedding_inputs");
  lines.resize(25);  // 50,000 exactly
  EXPECT_TRUE(run(lines, "/v1/embeddings").errors.empty());
}

TEST_F(validator, empty_file_fails) {
  std::ofstream(file).close();
  auto r = validate_batch_input(file, "/v1/chat/completions");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].code, "empty_file");
}

TEST_F(validator, invalid_body_is_a_runtime_failure_not_a_validation_error) {
  auto bad = chat_line("b");
  bad["body"].erase("messages");
  auto r = run({chat_line("a"), bad});
  EXPECT_TRUE(r.errors.empty());
  EXPECT_TRUE(r.lines[0].body_ok);
  EXPECT_FALSE(r.lines[1].body_ok);
}

}  // namespace
}  // namespace batchd::sim
