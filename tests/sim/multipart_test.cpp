#include "sim/multipart.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace batchd::sim {
namespace {

struct collected : part_handler {
  std::map<std::string, std::string> parts;
  std::map<std::string, std::string> filenames;
  std::string current;
  int ended = 0;
  void begin_part(const part_info& p) override {
    current = p.name;
    if (p.filename) filenames[p.name] = *p.filename;
  }
  void part_data(std::string_view b) override { parts[current].append(b); }
  void end_part() override { ++ended; }
};

const std::string body =
    "--B0undary\r\n"
    "Content-Disposition: form-data; name=\"purpose\"\r\n\r\n"
    "batch\r\n"
    "--B0undary\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"job-1.jsonl\"\r\n"
    "Content-Type: application/octet-stream\r\n\r\n"
    "{\"a\":1}\r\n{\"b\":\"--B0undar\"}\n\r\n"
    "--B0undary--\r\n";

TEST(multipart, whole_body_at_once) {
  collected c;
  multipart_parser p("B0undary", c);
  p.feed(body);
  p.finish();
  EXPECT_EQ(c.parts["purpose"], "batch");
  EXPECT_EQ(c.parts["file"], "{\"a\":1}\r\n{\"b\":\"--B0undar\"}\n");
  EXPECT_EQ(c.filenames["file"], "job-1.jsonl");
  EXPECT_EQ(c.ended, 2);
}

// Every split point, including inside the boundary, gives the same parts.
TEST(multipart, any_split_gives_the_same_parts) {
  for (std::size_t cut = 0; cut <= body.size(); ++cut) {
    collected c;
    multipart_parser p("B0undary", c);
    p.feed(std::string_view(body).substr(0, cut));
    p.feed(std::string_view(body).substr(cut));
    p.finish();
    ASSERT_EQ(c.parts["file"], "{\"a\":1}\r\n{\"b\":\"--B0undar\"}\n") << "cut at " << cut;
    ASSERT_EQ(c.parts["purpose"], "batch") << "cut at " << cut;
  }
}

TEST(multipart, byte_by_byte) {
  collected c;
  multipart_parser p("B0undary", c);
  for (char ch : body) p.feed(std::string_view(&ch, 1));
  p.finish();
  EXPECT_EQ(c.parts["file"], "{\"a\":1}\r\n{\"b\":\"--B0undar\"}\n");
}

TEST(multipart, missing_closing_boundary_is_an_error) {
  collected c;
  multipart_parser p("B0undary", c);
  p.feed(body.substr(0, body.size() - 16));
  EXPECT_THROW(p.finish(), multipart_error);
}

TEST(multipart, part_without_disposition_is_an_error) {
  collected c;
  multipart_parser p("X", c);
  EXPECT_THROW(p.feed("--X\r\nContent-Type: text/plain\r\n\r\nhi\r\n--X--\r\n"), multipart_error);
}

TEST(multipart, boundary_from_content_type) {
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=openai-123"), "openai-123");
  EXPECT_EQ(multipart_boundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b\""), "a b");
  EXPECT_EQ(multipart_boundary("application/json"), std::nullopt);
  EXPECT_EQ(multipart_boundary("multipart/form-data"), std::nullopt);
}

}  // namespace
}  // namespace batchd::sim
