// The pricing table's rules: how a model finds its row (snapshots, fine-tuned
// models), batch rates as published or by the stated rule, a rate nobody
// published makes the cost unknown (never 0), a file overlays the built-in
// table row by row, a bad table is refused with every problem named.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "ledger/pricing.hpp"
#include "tests/ledger/usage_lines.hpp"

namespace batchd::ledger {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::line;

pricing_table table(const char* text) {
  std::vector<std::string> problems;
  auto t = pricing_table::from_json(json::parse(text), problems);
  EXPECT_TRUE(problems.empty()) << problems.front();
  return t;
}

TEST(pricing, the_built_in_table_is_the_shipped_file_and_every_row_names_its_source) {
  const auto built_in = pricing_table::builtin();
  const auto file = pricing_table::load(fs::path(BATCHD_SOURCE_DIR) / "etc" / "pricing.json");
  ASSERT_EQ(built_in.models.size(), file.models.size());
  EXPECT_GE(built_in.models.size(), 80u) << "today's models, not seven";
  EXPECT_EQ(built_in.batch_rule_percent, 50);
  EXPECT_FALSE(built_in.batch_rule_source.empty());
  for (const auto& [name, p] : built_in.models) {
    EXPECT_FALSE(p.as_of.empty() || p.source.empty()) << name << ": every row says where it came from";
    EXPECT_EQ(price_json(name, p), price_json(name, file.models.at(name))) << name;
  }
  EXPECT_EQ(built_in.origin, "built-in");
}

TEST(pricing, snapshots_fall_back_to_their_family_unless_listed) {
  const auto t = pricing_table::builtin();
  EXPECT_EQ(model_family("gpt-4o-mini-2024-07-18"), "gpt-4o-mini");
  EXPECT_EQ(model_family("gpt-4-0613"), "gpt-4");
  EXPECT_EQ(model_family("gpt-5.4-nano-2026-03-17"), "gpt-5.4-nano");
  EXPECT_EQ(model_family("text-embedding-3-small"), "text-embedding-3-small");
  EXPECT_EQ(t.find("gpt-5.4-nano-2026-03-17")->row, "gpt-5.4-nano");
  EXPECT_EQ(t.find("gpt-4.1-mini-2025-04-14")->row, "gpt-4.1-mini-2025-04-14") << "a listed snapshot is its own row";
  // gpt-4o-2024-05-13 has its own (older, dearer) price; the family row would be wrong.
  EXPECT_EQ(format_usd(t.find("gpt-4o-2024-05-13")->price->text.input->regular * 1'000'000), "5.00");
  EXPECT_FALSE(t.find("gpt-9"));
  const auto c = t.cost("gpt-9", line(10, 0, 10));
  EXPECT_FALSE(c.cost) << "unknown is not zero";
  EXPECT_NE(c.unknown_because.find("not in the pricing table"), std::string::npos);
}

TEST(pricing, fine_tuned_models_are_priced_as_fine_tuned_never_as_their_base) {
  auto t = pricing_table::builtin();
  const std::string mini = "ft:gpt-4.1-mini-2025-04-14:acme::BXk3dY2";
  EXPECT_EQ(fine_tuned_row(mini), "ft:gpt-4.1-mini-2025-04-14");
  EXPECT_EQ(fine_tuned_row("ft:gpt-4o-2024-08-06"), "ft:gpt-4o-2024-08-06");
  EXPECT_FALSE(fine_tuned_row("gpt-4o-mini"));
  ASSERT_TRUE(t.find(mini));
  EXPECT_EQ(t.find(mini)->row, "ft:gpt-4.1-mini-2025-04-14");
  // Fine-tuned gpt-4.1-mini in a batch: $0.40 in, $0.10 cached, $1.60 out per 1M.
  const auto c = t.cost(mini, line(1'000'000, 400'000, 1'000'000));
  ASSERT_TRUE(c.cost);
  EXPECT_EQ(format_usd(c.cost->batch), "1.88");  // 0.6 × 0.40 + 0.4 × 0.10 + 1 × 1.60
  EXPECT_EQ(format_usd(c.cost->regular), "3.76");
  // No ft: row for the base: unknown, not the base model's cheaper price.
  EXPECT_FALSE(t.find("ft:gpt-5.4-mini-2026-03-17:acme::id"));
  EXPECT_TRUE(t.find("gpt-5.4-mini-2026-03-17"));
  t.models.erase("ft:gpt-4.1-mini-2025-04-14");
  EXPECT_FALSE(t.find(mini));
  // A row for the fine-tuned model itself wins over its ft:BASE row.
  t = pricing_table::builtin();
  t.models[mini] = t.models.at("gpt-4o");
  EXPECT_EQ(t.find(mini)->row, mini);
}

TEST(pricing, batch_rates_are_published_ones_else_the_rule_else_unknown) {
  const auto t = table(R"({"batch_rule": {"percent": 50, "source": "test"}, "models": {
      "ruled":      {"input": "1", "cached_input": "0.5", "output": "4"},
      "published":  {"input": "1", "output": "2", "batch": {"input": "1", "output": "2"}},
      "part":       {"input": "1", "cached_input": "0.25", "output": "4", "batch": {"input": "0.4", "output": "1.6"}},
      "no-batch":   {"input": "1", "output": "2", "batch_offered": false},
      "no-cache":   {"input": "1", "output": "2"},
      "free":       {"input": "0", "output": "0"}}})");
  EXPECT_EQ(format_usd(t.cost("ruled", line(1'000'000, 0, 1'000'000)).cost->batch), "2.50");
  EXPECT_TRUE(t.models.at("ruled").text.input->batch_by_rule);
  EXPECT_EQ(t.cost("published", line(1'000'000, 0, 0)).cost->batch, t.cost("published", line(1'000'000, 0, 0)).cost->regular)
      << "a batch price equal to the regular one is taken as published, not halved";
  // The cached rate has no batch price of its own: the rule halves its regular one.
  EXPECT_EQ(format_usd(t.cost("part", line(1'000'000, 1'000'000, 0)).cost->batch), "0.125");
  EXPECT_FALSE(t.models.at("part").text.input->batch_by_rule);
  const auto none = t.cost("no-batch", line(10, 0, 10));
  EXPECT_FALSE(none.cost);
  EXPECT_NE(none.unknown_because.find("not offered in batch"), std::string::npos) << none.unknown_because;
  const auto cached = t.cost("no-cache", line(100, 50, 10));
  EXPECT_FALSE(cached.cost) << "cached tokens with no cached price published: unknown, not the input price";
  EXPECT_NE(cached.unknown_because.find("cached input"), std::string::npos) << cached.unknown_because;
  EXPECT_TRUE(t.cost("no-cache", line(100, 0, 10)).cost) << "no cached tokens, no cached price needed";
  auto without_usage = line(10, 0, 10);
  without_usage.without_usage = 1;
  EXPECT_FALSE(t.cost("ruled", without_usage).cost) << "a line without usage makes the cost unknown";
  EXPECT_EQ(t.cost("free", without_usage).cost->batch, 0) << "moderation is free, usage or not";
}

TEST(pricing, a_file_overlays_the_built_in_table_row_by_row) {
  const auto dir = fs::temp_directory_path() / ("batchd-pricing-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto file = dir / "pricing.json";
  {
    std::ofstream(file) << R"({"models": {"gpt-4o-mini": {"input": "0.2", "output": "0.8", "as_of": "2027-01-01",
        "source": "operator"}, "my-model": {"input": "1", "output": "1", "as_of": "2026-12-04", "source": "operator"}}})";
  }
  const auto t = pricing_table::builtin_overlaid_by(file);
  EXPECT_EQ(t.origin, "built-in + " + file.string());
  EXPECT_EQ(t.models.size(), pricing_table::builtin().models.size() + 1);
  EXPECT_EQ(t.find("gpt-4o-mini")->price->source, "operator");
  EXPECT_EQ(t.find("gpt-4o")->price->source, pricing_table::builtin().find("gpt-4o")->price->source);
  EXPECT_EQ(t.as_of, "2027-01-01");
  EXPECT_EQ(pricing_table::builtin_overlaid_by(dir / "absent.json").origin, "built-in");
  { std::ofstream(file) << R"({"models": {"x": {"output": "1"}}})"; }
  EXPECT_THROW(pricing_table::builtin_overlaid_by(file), std::runtime_error) << "a broken overlay is an error";
  fs::remove_all(dir);
}

TEST(pricing, refuses_a_bad_table_with_every_problem) {
  std::vector<std::string> problems;
  pricing_table::from_json(json::parse(R"({"batch_rule": {"percent": 50}, "models": {
      "a": {"input": "0.1234567"}, "b": {"output": "1"}, "c": {"input": "1", "colour": "red"},
      "d": {"input": "0.000001"}, "e": {"input": "1", "shutdown": "soon"}}})"),
                           problems);
  ASSERT_EQ(problems.size(), 5u);
  EXPECT_NE(problems[0].find("model a"), std::string::npos);
  EXPECT_NE(problems[1].find("\"input\" is missing"), std::string::npos);
  EXPECT_NE(problems[2].find("\"colour\" is not a field"), std::string::npos);
  EXPECT_NE(problems[3].find("not a whole number"), std::string::npos) << "half of 1 pico-dollar";
  EXPECT_NE(problems[4].find("YYYY-MM-DD"), std::string::npos);
}

TEST(pricing, a_row_shows_as_exact_decimal_strings) {
  const auto t = pricing_table::builtin();
  const auto j = price_json("gpt-5.4", t.models.at("gpt-5.4"));
  EXPECT_EQ(j["input"], "2.50");
  EXPECT_EQ(j["batch"]["cached_input"], "0.13") << "as published, not 0.125";
  EXPECT_EQ(j["above_272k"]["input"], "5.00");
  EXPECT_EQ(j["above_272k"]["batch"]["input"], "2.50");
  EXPECT_EQ(j["above_272k"]["batch_by_rule"], json::array({"input", "cached_input", "output"}));
  EXPECT_FALSE(j["source"].get<std::string>().empty());
}

}  // namespace
}  // namespace batchd::ledger
