// The vector file from packed embedding answers: what may become a row, the
// NumPy header, base64, and the map read back for search.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "jobs/kinds/job_kind.hpp"
#include "jobs/results/job_report.hpp"
#include "jobs/results/manifest_results.hpp"
#include "jobs/results/outbox_writer.hpp"
#include "vectors/vector_file.hpp"
#include "vectors/vector_search.hpp"

namespace fs = std::filesystem;
using namespace batchd::jobs;
using namespace batchd::vectors;
using nlohmann::json;

namespace {

std::string b64(const std::vector<float>& v) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string raw(reinterpret_cast<const char*>(v.data()), v.size() * 4), out;
  for (std::size_t i = 0; i < raw.size(); i += 3) {
    std::uint32_t n = static_cast<unsigned char>(raw[i]) << 16;
    if (i + 1 < raw.size()) n |= static_cast<unsigned char>(raw[i + 1]) << 8;
    if (i + 2 < raw.size()) n |= static_cast<unsigned char>(raw[i + 2]);
    out += a[n >> 18 & 63];
    out += a[n >> 12 & 63];
    out += i + 1 < raw.size() ? a[n >> 6 & 63] : '=';
    out += i + 2 < raw.size() ? a[n & 63] : '=';
  }
  return out;
}

std::vector<std::string> lines_of(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string s; std::getline(in, s);) out.push_back(s);
  return out;
}

struct scratch {
  fs::path dir = fs::temp_directory_path() / ("batchd-vector-file-" + std::to_string(::getpid()));
  scratch() { fs::create_directories(dir); }
  ~scratch() { fs::remove_all(dir); }
};

}  // namespace

TEST(vector_file, an_embedding_that_is_empty_short_or_not_finite_is_an_error_line_never_a_row) {
  scratch s;
  {
    std::ofstream ids(s.dir / "ids.txt"), texts(s.dir / "inputs.text");
    for (int i = 1; i <= 5; ++i) {
      ids << "v-" << i << "\n";
      texts << json("text " + std::to_string(i)).dump() << "\n";
    }
    const float nan = std::numeric_limits<float>::quiet_NaN();
    json answer = {{"custom_id", "batchd-pack-0-5"},
                   {"response", {{"status_code", 200},
                                 {"body", {{"model", "m"},
                                           {"data", {{{"index", 0}, {"embedding", b64({1, 0, 0})}},
                                                     {{"index", 1}, {"embedding", ""}},
                                                     {{"index", 2}, {"embedding", b64({0, 1})}},
                                                     {{"index", 3}, {"embedding", b64({nan, 0, 0})}},
                                                     {{"index", 4}, {"embedding", {0.0, 1.0, 0.0}}}}}}}}}};
    std::ofstream(s.dir / "part.jsonl") << answer.dump() << "\n";
  }
  job_spec spec;
  spec.ids = {(s.dir / "ids.txt").string()};
  spec.packs = true;
  spec.model = "m";
  spec.id_prefix = "v-";
  spec.output = "both";
  spec.float_lines = true;
  spec.texts = (s.dir / "inputs.text").string();
  const auto out_dir = s.dir / "out";
  fs::create_directories(out_dir);
  id_accounts ids(spec.ids);
  outbox_writer out(out_dir, ids);
  result_parts parts;
  parts.results = {s.dir / "part.jsonl"};
  publish_manifest_results(out, parts, spec);
  const auto totals = out.commit("batchd_result_missing", "no result");

  EXPECT_EQ(totals.results, 2);
  EXPECT_EQ(totals.errors, 3);
  std::vector<std::string> error_ids;
  for (const auto& l : lines_of(out_dir / "errors.jsonl")) {
    const auto j = json::parse(l);
    error_ids.push_back(j["custom_id"]);
    EXPECT_EQ(j["error"]["code"], "missing_embedding");
  }
  EXPECT_EQ(error_ids, (std::vector<std::string>{"v-2", "v-3", "v-4"}));
  const auto results = lines_of(out_dir / "results.jsonl");
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(json::parse(results[0])["embedding"], json({1, 0, 0}));  // base64 back as numbers

  const npy_map m(out_dir / "embeddings.npy");
  ASSERT_EQ(m.rows(), 2);
  ASSERT_EQ(m.dims(), 3);
  EXPECT_EQ(std::vector<float>(m.row(0).begin(), m.row(0).end()), (std::vector<float>{1, 0, 0}));
  EXPECT_EQ(std::vector<float>(m.row(1).begin(), m.row(1).end()), (std::vector<float>{0, 1, 0}));
  const auto rows = lines_of(out_dir / "embeddings.rows.jsonl");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(json::parse(rows[1]), (json{{"row", 1}, {"custom_id", "v-5"}, {"index", 4}, {"input", "text 5"}}));

  const std::vector<float> query{0.0f, 2.0f, 0.0f};
  const auto hits = top_k(m, query, 5);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].row, 1);
  EXPECT_FLOAT_EQ(hits[0].score, 1.0f);
  EXPECT_FLOAT_EQ(hits[1].score, 0.0f);
}

TEST(vector_file, base64_decoding_takes_only_whole_float32_vectors) {
  std::vector<float> v;
  ASSERT_TRUE(decode_base64_floats(b64({1.5f, -2.0f}), v));
  EXPECT_EQ(v, (std::vector<float>{1.5f, -2.0f}));
  EXPECT_FALSE(decode_base64_floats("AAAA", v)) << "3 bytes are not a float";
  EXPECT_FALSE(decode_base64_floats("AAA", v)) << "not a multiple of 4 characters";
  EXPECT_FALSE(decode_base64_floats("AA*AAAA=", v)) << "a character outside the alphabet";
  EXPECT_FALSE(decode_base64_floats("A=AAAAA=", v)) << "padding only at the end";
  std::string shortest;
  append_floats_json(shortest, std::vector<float>{0.1f, -0.25f, 3.0f});
  EXPECT_EQ(shortest, "[0.1,-0.25,3]");
}

TEST(vector_file, a_header_that_promises_more_than_the_file_holds_is_refused) {
  scratch s;
  const auto p = s.dir / "short.npy";
  const auto header = npy_header(1'000'000, 8);
  ASSERT_EQ(header.size(), npy_header_bytes);
  EXPECT_EQ(header.back(), '\n');
  std::ofstream(p, std::ios::binary) << header << std::string(64, '\0');
  EXPECT_THROW(npy_map{p}, std::runtime_error);
  const auto huge = s.dir / "huge.npy";
  std::ofstream(huge, std::ios::binary) << npy_header(4611686018427387904LL, 4) << std::string(64, '\0');
  EXPECT_THROW(npy_map{huge}, std::runtime_error) << "rows × dims × 4 must not wrap";
}
