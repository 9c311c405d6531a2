// Manifests: parsing, the template, packing within the limits, escaping.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "jobfiles/manifest.hpp"
#include "jobfiles/manifest_assembly.hpp"

namespace batchd::jobfiles {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class assembly : public ::testing::Test {
 protected:
  fs::path dir = fs::temp_directory_path() / ("batchd-manifest-" + std::to_string(::getpid()));
  void SetUp() override { fs::create_directories(dir); }
  void TearDown() override { fs::remove_all(dir); }

  std::vector<json> lines(const fs::path& p) {
    std::vector<json> out;
    std::ifstream in(p);
    for (std::string l; std::getline(in, l);) out.push_back(json::parse(l));
    return out;
  }
  manifest parse(const json& j) {
    std::vector<manifest_problem> problems;
    auto m = parse_manifest(j, "job", problems);
    EXPECT_TRUE(problems.empty()) << problems.front().message;
    return *m;
  }
};

TEST(manifest_names, closest_known_name_and_pack_ids) {
  const std::vector<std::string> known = {"inputs", "inputs_file", "metadata", "model"};
  EXPECT_EQ(closest_name("inptus", known), "inputs");
  EXPECT_EQ(closest_name("metdata", known), "metadata");
  EXPECT_FALSE(closest_name("completely_different", known));
  std::int64_t first = 0, count = 0;
  ASSERT_TRUE(parse_pack_id(pack_id(49152, 848), first, count));
  EXPECT_EQ(first, 49152);
  EXPECT_EQ(count, 848);
  EXPECT_FALSE(parse_pack_id("job-1", first, count));
  EXPECT_TRUE(is_inputs_file_name("a.txt"));
  EXPECT_TRUE(is_inputs_file_name("a.inputs.jsonl"));
  EXPECT_FALSE(is_inputs_file_name("a.jsonl"));
}

TEST_F(assembly, a_template_filled_with_escaped_text_and_whole_values) {
  const auto m = parse({{"endpoint", "/v1/chat/completions"},
                        {"model", "gpt-4o-mini"},
                        {"body", {{"messages", {{{"role", "user"}, {"content", "Q: {{q}}"}}}}, {"max_tokens", "{{n}}"}}},
                        {"inputs", {{{"q", "say \"hi\"\n\ttab \x01"}, {"n", 7}}}},
                        {"custom_id", {{"prefix", "c-"}}}});
  const auto r = assemble_manifest(m, {}, dir / "req.jsonl", dir / "ids.txt", {}, {});
  ASSERT_TRUE(r.problems.empty()) << r.problems.front().message;
  const auto got = lines(dir / "req.jsonl");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]["custom_id"], "c-1");
  EXPECT_EQ(got[0]["url"], "/v1/chat/completions");
  EXPECT_EQ(got[0]["body"]["model"], "gpt-4o-mini");
  EXPECT_EQ(got[0]["body"]["messages"][0]["content"], "Q: say \"hi\"\n\ttab \x01");
  EXPECT_EQ(got[0]["body"]["max_tokens"], 7) << "a whole-string placeholder takes the JSON value";
}

TEST_F(assembly, embeddings_pack_within_the_request_and_batch_limits) {
  json inputs = json::array();
  for (int i = 0; i < 25; ++i) inputs.push_back("text " + std::to_string(i));
  auto m = parse({{"endpoint", "/v1/embeddings"}, {"model", "text-embedding-3-small"}, {"inputs", inputs},
                  {"inputs_per_request", 4}, {"body", {{"dimensions", 8}}}});
  batch_limits limits;
  limits.max_embedding_inputs = 10;
  const auto r = assemble_manifest(m, {}, dir / "req.jsonl", dir / "ids.txt", {}, limits);
  ASSERT_TRUE(r.problems.empty());
  std::vector<std::string> ids;
  std::vector<std::size_t> sizes;
  for (const auto& l : lines(dir / "req.jsonl")) {
    ids.push_back(l["custom_id"]);
    sizes.push_back(l["body"]["input"].size());
    EXPECT_EQ(l["body"]["dimensions"], 8);
  }
  // Batches of 10 inputs: 4+4+2 | 4+4+2 | 4+1 — no request straddles a batch.
  EXPECT_EQ(sizes, (std::vector<std::size_t>{4, 4, 2, 4, 4, 2, 4, 1}));
  EXPECT_EQ(ids.front(), pack_id(0, 4));
  EXPECT_EQ(ids[3], pack_id(10, 4));
  EXPECT_EQ(r.inputs, 25);
  std::ifstream idfile(dir / "ids.txt");
  std::string first;
  std::getline(idfile, first);
  EXPECT_EQ(first, "job-1");
}

TEST_F(assembly, a_long_input_goes_alone_and_ids_with_control_characters_are_refused) {
  const auto m = parse({{"endpoint", "/v1/embeddings"}, {"model", "text-embedding-3-small"},
                        {"inputs", {"a", std::string(20'000, 'x'), "b", "c"}}});
  const auto r = assemble_manifest(m, {}, dir / "req.jsonl", dir / "ids.txt", {}, {});
  ASSERT_TRUE(r.problems.empty());
  std::vector<std::size_t> sizes;
  for (const auto& l : lines(dir / "req.jsonl")) sizes.push_back(l["body"]["input"].size());
  EXPECT_EQ(sizes, (std::vector<std::size_t>{1, 1, 2})) << "over 8192 bytes it might pass the token limit: alone";

  const auto bad = parse({{"endpoint", "/v1/embeddings"}, {"model", "text-embedding-3-small"},
                          {"inputs", {{{"id", "a\nb"}, {"text", "x"}}}}, {"custom_id", {{"field", "id"}}}});
  const auto r2 = assemble_manifest(bad, {}, dir / "req2.jsonl", dir / "ids2.txt", {}, {});
  ASSERT_EQ(r2.problems.size(), 1u);
  EXPECT_NE(r2.problems[0].message.find("control character"), std::string::npos);
}

TEST_F(assembly, duplicate_ids_and_empty_inputs_are_reported_with_their_line) {
  std::ofstream(dir / "in.inputs.jsonl") << "{\"id\":\"a\",\"text\":\"x\"}\n{\"id\":\"a\",\"text\":\"y\"}\n{\"id\":\"b\",\"text\":\"\"}\n";
  const auto m = parse({{"endpoint", "/v1/embeddings"}, {"model", "text-embedding-3-small"},
                        {"inputs_file", "in.inputs.jsonl"}, {"custom_id", {{"field", "id"}}}});
  const auto r = assemble_manifest(m, dir / "in.inputs.jsonl", dir / "req.jsonl", dir / "ids.txt", {}, {});
  ASSERT_EQ(r.problems.size(), 2u);
  EXPECT_EQ(r.problems[0].line, 2);
  EXPECT_NE(r.problems[0].message.find("used by an earlier input"), std::string::npos);
  EXPECT_EQ(r.problems[1].line, 3);
  EXPECT_NE(r.problems[1].message.find("empty"), std::string::npos);
}

TEST(manifest_parse, refuses_what_the_api_would) {
  std::vector<manifest_problem> problems;
  EXPECT_FALSE(parse_manifest({{"endpoint", "/v1/embeddings"}, {"model", "m"}, {"inputs", {"a"}},
                               {"body", {{"input", "x"}}}, {"completion_window", "1h"}, {"inputs_per_request", 4096}},
                              "j", problems));
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_EQ(problems[0].field, "completion_window");
  EXPECT_EQ(problems[1].field, "inputs_per_request");
  EXPECT_EQ(problems[2].field, "body");
}

}  // namespace
}  // namespace batchd::jobfiles
