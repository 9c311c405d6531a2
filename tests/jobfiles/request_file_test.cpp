#include "jobfiles/request_file.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>

#include "io/sha256.hpp"

namespace batchd::jobfiles {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json chat(const std::string& id, const std::string& model = "gpt-4o-mini") {
  return {{"custom_id", id},
          {"method", "POST"},
          {"url", "/v1/chat/completions"},
          {"body", {{"model", model}, {"messages", {{{"role", "user"}, {"content", "hello " + id}}}}}}};
}

json embed(const std::string& id, int inputs) {
  return {{"custom_id", id},
          {"method", "POST"},
          {"url", "/v1/embeddings"},
          {"body", {{"model", "text-embedding-3-small"}, {"input", std::vector<std::string>(inputs, "t")}}}};
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string chunk_bytes(const chunk_file& c) {
  std::ifstream in(c.path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(c.offset));
  std::string out(static_cast<std::size_t>(c.bytes), '\0');
  in.read(out.data(), c.bytes);
  return out;
}

class request_file : public ::testing::Test {
 protected:
  fs::path dir = fs::temp_directory_path() / ("batchd-jobs-test-" + std::to_string(::getpid()));
  fs::path input = dir / "in.jsonl";
  void SetUp() override {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  void write(const std::vector<json>& lines, const std::string& eol = "\n") {
    std::ofstream f(input, std::ios::binary);
    for (const auto& l : lines) f << l.dump() << eol;
  }
  request_file_report split(batch_limits limits = {}) { return split_request_file(input, {limits, 20}); }
};

TEST_F(request_file, splits_by_request_count_and_keeps_every_byte_in_order) {
  std::vector<json> lines;
  for (int i = 0; i < 10; ++i) lines.push_back(chat("r" + std::to_string(i)));
  write(lines);
  auto r = split({4, 1'000'000, 50'000});
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(r.endpoint, "/v1/chat/completions");
  EXPECT_EQ(r.model, "gpt-4o-mini");
  EXPECT_EQ(r.requests, 10);
  ASSERT_EQ(r.chunks.size(), 3u);
  EXPECT_EQ(r.chunks[0].requests, 4);
  EXPECT_EQ(r.chunks[2].requests, 2);
  std::string joined;
  for (const auto& c : r.chunks) {
    const auto bytes = chunk_bytes(c);
    EXPECT_EQ(static_cast<std::int64_t>(bytes.size()), c.bytes);
    io::sha256 h;
    h.update(bytes);
    EXPECT_EQ(c.sha256, h.hex());
    joined += bytes;
  }
  EXPECT_EQ(joined, slurp(input));
}

TEST_F(request_file, same_input_same_chunks) {
  std::vector<json> lines;
  for (int i = 0; i < 7; ++i) lines.push_back(chat("r" + std::to_string(i)));
  write(lines);
  auto a = split({3, 1'000'000, 50'000});
  auto b = split({3, 1'000'000, 50'000});
  ASSERT_EQ(a.chunks.size(), b.chunks.size());
  for (std::size_t i = 0; i < a.chunks.size(); ++i) EXPECT_EQ(a.chunks[i].sha256, b.chunks[i].sha256);
}

TEST_F(request_file, splits_by_bytes_and_by_embedding_inputs) {
  write({chat("a"), chat("b"), chat("c")});
  const auto line_bytes = static_cast<std::int64_t>(chat("a").dump().size()) + 1;
  EXPECT_EQ(split({100, 2 * line_bytes, 50'000}).chunks.size(), 2u);
  write({embed("a", 30), embed("b", 30), embed("c", 50)});
  auto r = split({100, 1'000'000, 60});
  ASSERT_EQ(r.chunks.size(), 2u);
  EXPECT_EQ(r.chunks[0].embedding_inputs, 60);
  EXPECT_EQ(r.chunks[1].embedding_inputs, 50);
}

TEST_F(request_file, crlf_lines_are_kept_as_they_are) {
  write({chat("a"), chat("b")}, "\r\n");
  auto r = split({1, 1'000'000, 50'000});
  ASSERT_EQ(r.chunks.size(), 2u);
  EXPECT_EQ(chunk_bytes(r.chunks[0]), chat("a").dump() + "\r\n");
  EXPECT_EQ(chunk_bytes(r.chunks[1]), chat("b").dump() + "\r\n");
}

TEST_F(request_file, a_last_line_without_newline_is_a_request) {
  std::ofstream(input, std::ios::binary) << chat("a").dump() << "\n" << chat("b").dump();
  auto r = split({1, 1'000'000, 50'000});
  ASSERT_EQ(r.chunks.size(), 2u);
  EXPECT_EQ(chunk_bytes(r.chunks[1]), chat("b").dump());
}

TEST_F(request_file, every_kind_of_bad_line_is_reported_with_line_and_hint) {
  auto no_id = chat("x");
  no_id.erase("custom_id");
  auto get = chat("g");
  get["method"] = "GET";
  auto bad_url = chat("u");
  bad_url["url"] = "/v1/images/nope";
  auto other_url = embed("e", 1);
  auto other_model = chat("m", "gpt-4o");
  auto streaming = chat("s");
  streaming["body"]["stream"] = true;
  auto no_body = chat("n");
  no_body.erase("body");
  write({chat("ok"), no_id, get, bad_url, other_url, other_model, streaming, chat("ok"), no_body,
         json::array()});
  {
    std::ofstream f(input, std::ios::app);
    f << "{\"custom_id\": \"broken\"\n\n";
  }
  auto r = split();
  ASSERT_EQ(r.errors.size(), 11u);
  EXPECT_EQ(r.lines_with_errors, 11);
  const std::vector<std::pair<int, std::string>> expected = {
      {2, "custom_id"}, {3, "method"}, {4, "url"},        {5, "url"},   {6, "body.model"},
      {7, "stream"},    {8, "earlier line"}, {9, "body"}, {10, "not a JSON object"},
      {11, "not valid JSON"}, {12, "empty"}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(r.errors[i].line, expected[i].first) << i;
    EXPECT_NE(r.errors[i].message.find(expected[i].second), std::string::npos) << r.errors[i].message;
    EXPECT_FALSE(r.errors[i].hint.empty());
  }
  EXPECT_TRUE(r.chunks.empty()) << "a rejected file gives no chunk";
}

TEST_F(request_file, error_list_is_capped_but_counted) {
  std::vector<json> lines(50, json::array());
  write(lines);
  auto r = split();
  EXPECT_EQ(r.errors.size(), 20u);
  EXPECT_EQ(r.lines_with_errors, 50);
}

TEST_F(request_file, empty_file_is_an_error) {
  write({});
  auto r = split();
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("no requests"), std::string::npos);
}

TEST_F(request_file, long_lines_cross_read_blocks) {
  std::vector<json> lines;
  for (int i = 0; i < 5; ++i) {
    auto l = chat("big" + std::to_string(i));
    l["body"]["messages"][0]["content"] = std::string(6 << 20, 'x');  // longer than one 4 MiB block
    lines.push_back(l);
  }
  write(lines);
  auto r = split();
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(r.requests, 5);
  EXPECT_EQ(chunk_bytes(r.chunks[0]), slurp(input));
}

TEST_F(request_file, a_120k_request_job_becomes_three_batches) {
  {
    std::ofstream f(input, std::ios::binary);
    for (int i = 0; i < 120'000; ++i) f << chat("r" + std::to_string(i)).dump() << "\n";
  }
  auto r = split();
  ASSERT_TRUE(r.errors.empty());
  ASSERT_EQ(r.chunks.size(), 3u);
  EXPECT_EQ(r.chunks[0].requests, 50'000);
  EXPECT_EQ(r.chunks[1].requests, 50'000);
  EXPECT_EQ(r.chunks[2].requests, 20'000);
}

}  // namespace
}  // namespace batchd::jobfiles

namespace batchd::jobfiles {
namespace {

TEST_F(request_file, embedding_requests_over_the_endpoint_limits_are_refused_with_their_line) {
  auto long_text = embed("long", 1);
  long_text["body"]["input"] = {std::string(40'000, 'x')};
  auto heavy = embed("heavy", 100);
  heavy["body"]["input"] = std::vector<std::string>(100, std::string(13'000, 'y'));  // ~325,000 tokens
  write({embed("ok", 2048), embed("wide", 2049), long_text, heavy, embed("fine", 3)});
  const auto r = split();
  ASSERT_EQ(r.lines_with_errors, 3);
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_NE(r.errors[0].message.find("2049 inputs"), std::string::npos) << r.errors[0].message;
  EXPECT_NE(r.errors[0].message.find("at most 2048"), std::string::npos);
  EXPECT_EQ(r.errors[1].line, 3);
  EXPECT_NE(r.errors[1].message.find("over the 8192"), std::string::npos) << r.errors[1].message;
  EXPECT_EQ(r.errors[2].line, 4);
  EXPECT_NE(r.errors[2].message.find("300,000"), std::string::npos) << r.errors[2].message;
  EXPECT_FALSE(r.errors[2].hint.empty());
}

TEST_F(request_file, every_batch_endpoint_of_the_spec_is_taken_with_its_required_fields) {
  const auto line = [](const std::string& id, const std::string& url, json body) {
    body["model"] = url == "/v1/videos" ? "sora-2" : url.starts_with("/v1/images") ? "gpt-image-2" : "gpt-5.4-mini";
    return json{{"custom_id", id}, {"method", "POST"}, {"url", url}, {"body", body}};
  };
  const std::vector<std::pair<std::string, json>> good = {
      {"/v1/responses", {{"input", "hi"}}},
      {"/v1/completions", {{"prompt", "Once"}}},
      {"/v1/moderations", {{"input", "text"}}},
      {"/v1/images/generations", {{"prompt", "a lighthouse"}}},
      {"/v1/images/edits", {{"prompt", "add a boat"}, {"images", {{{"image_url", "https://example.com/a.png"}}}}}},
      {"/v1/videos", {{"prompt", "waves"}, {"seconds", "4"}}}};
  for (const auto& [url, body] : good) {
    write({line("a", url, body), line("b", url, body)});
    const auto r = split();
    ASSERT_TRUE(r.errors.empty()) << url << ": " << r.errors[0].message;
    EXPECT_EQ(r.endpoint, url);
  }
  const std::vector<std::tuple<std::string, json, std::string>> bad = {
      {"/v1/images/generations", {{"size", "1024x1024"}}, "needs a non-empty string \"prompt\""},
      {"/v1/images/edits", {{"prompt", "add a boat"}}, "needs a non-empty \"images\" array"},
      {"/v1/videos", {{"prompt", ""}}, "needs a non-empty string \"prompt\""},
      {"/v1/responses", {{"instructions", "be brief"}}, "needs \"input\""},
      {"/v1/audio/speech", {{"input", "hi"}}, "/v1/images/generations"}};  // names the endpoints it takes
  for (const auto& [url, body, says] : bad) {
    write({line("a", url, body)});
    const auto r = split();
    ASSERT_EQ(r.errors.size(), 1u) << url;
    EXPECT_NE(r.errors[0].message.find(says) + r.errors[0].hint.find(says), 2 * std::string::npos)
        << url << ": " << r.errors[0].message << " / " << r.errors[0].hint;
    EXPECT_FALSE(r.errors[0].hint.empty());
  }
}

}  // namespace
}  // namespace batchd::jobfiles
