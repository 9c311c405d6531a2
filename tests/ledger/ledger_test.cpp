// Money: exact parsing and display, the pricing table as shipped, the batch
// discount, cached-token billing, and a 1,000,000-line booking.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <limits>
#include <tuple>
#include <nlohmann/json.hpp>

#include "jobs/results/chunk_results.hpp"
#include "ledger/ledger.hpp"
#include "ledger/money.hpp"
#include "ledger/pricing.hpp"

namespace batchd::ledger {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

pricing_table shipped() { return pricing_table::load(fs::path(BATCHD_SOURCE_DIR) / "etc" / "pricing.json"); }

TEST(money, parses_decimals_exactly) {
  EXPECT_EQ(parse_price_per_million("0.075"), 75'000);  // pico-USD per token
  EXPECT_EQ(parse_price_per_million("2.50"), 2'500'000);
  EXPECT_EQ(parse_price_per_million("10"), 10'000'000);
  EXPECT_EQ(parse_price_per_million("0.0000010"), 1);  // trailing zeros past the unit are fine
  EXPECT_EQ(parse_usd("12.50"), 12'500'000'000'000);
  EXPECT_EQ(parse_usd("0.000000000001"), 1);
  for (const char* bad : {"", ".", "-1", "1e3", "0.1234567", "1.2.3", "abc", "99999999999999"})
    EXPECT_FALSE(parse_price_per_million(bad)) << bad;
  EXPECT_FALSE(parse_usd("10000000")) << "past int64 pico-dollars";
}

TEST(money, formats_exactly_with_trailing_zeros_trimmed_to_cents) {
  EXPECT_EQ(format_usd(0), "0.00");
  EXPECT_EQ(format_usd(1), "0.000000000001");
  EXPECT_EQ(format_usd(57'075'000), "0.000057075");
  EXPECT_EQ(format_usd(12'500'000'000'000), "12.50");
  EXPECT_EQ(format_usd(10'000'000'000'000), "10.00");
  EXPECT_EQ(format_usd(12'345'678'900'000), "12.3456789");
  EXPECT_EQ(format_usd(-2'500'000), "-0.0000025");
  EXPECT_EQ(format_usd(std::numeric_limits<picousd>::max()), "9223372.036854775807");
  EXPECT_EQ(format_usd(std::numeric_limits<picousd>::min()), "-9223372.036854775808");
  for (picousd v : {picousd{0}, picousd{1}, picousd{999}, picousd{57'075'000}, std::numeric_limits<picousd>::max()})
    EXPECT_EQ(parse_usd(format_usd(v)), v) << "exact both ways";
}

TEST(pricing, the_shipped_table_at_half_price_for_every_seeded_model) {
  const auto t = shipped();
  EXPECT_EQ(t.batch_discount_percent, 50);
  struct row {
    const char* model;
    picousd in, out;
  } rows[] = {{"text-embedding-3-large", 130'000, 0}, {"text-embedding-3-small", 20'000, 0},
              {"text-embedding-ada-002", 100'000, 0}, {"gpt-4o", 2'500'000, 10'000'000},
              {"gpt-4o-mini", 150'000, 600'000}, {"ft:gpt-4o", 3'750'000, 15'000'000},
              {"ft:gpt-4o-mini", 300'000, 1'200'000}};
  for (const auto& r : rows) {
    const auto* p = t.find(r.model);
    ASSERT_TRUE(p) << r.model;
    EXPECT_EQ(p->input, r.in) << r.model;
    EXPECT_EQ(p->output, r.out) << r.model;
    EXPECT_FALSE(p->as_of.empty() || p->source.empty()) << r.model << ": every row says where it came from";
    // One million tokens each way: the batch price is exactly half.
    token_usage u{1, 1'000'000, 0, 1'000'000, 0};
    const auto c = t.cost(r.model, u);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->regular, (r.in + r.out) * 1'000'000) << r.model;
    EXPECT_EQ(c->batch * 2, c->regular) << r.model;
  }
  // $0.15/1M in for gpt-4o-mini: 1M tokens = $0.15 regular, $0.075 batch.
  EXPECT_EQ(format_usd(t.cost("gpt-4o-mini", {1, 1'000'000, 0, 0, 0})->batch), "0.075");
  EXPECT_EQ(format_usd(t.cost("text-embedding-3-large", {1, 1'000'000, 0, 0, 0})->batch), "0.065");
}

TEST(pricing, snapshots_fall_back_to_their_family_unless_listed) {
  auto t = shipped();
  EXPECT_EQ(model_family("gpt-4o-mini-2024-07-18"), "gpt-4o-mini");
  EXPECT_EQ(model_family("gpt-4-0613"), "gpt-4");
  EXPECT_EQ(model_family("text-embedding-3-small"), "text-embedding-3-small");
  EXPECT_EQ(t.find("gpt-4o-mini-2024-07-18"), t.find("gpt-4o-mini"));
  t.models["gpt-4o-2024-05-13"] = {5'000'000, 5'000'000, 15'000'000, std::nullopt, "", ""};
  EXPECT_EQ(t.find("gpt-4o-2024-05-13")->input, 5'000'000) << "a listed snapshot has its own price";
  EXPECT_FALSE(t.find("gpt-9"));
  EXPECT_FALSE(t.cost("gpt-9", {1, 10, 0, 10, 0})) << "unknown is not zero";
}

TEST(pricing, fine_tuned_models_are_priced_as_fine_tuned_never_as_their_base) {
  auto t = shipped();
  const std::string mini = "ft:gpt-4o-mini-2024-07-18:org:suffix:abc123";
  EXPECT_EQ(fine_tuned_row(mini), "ft:gpt-4o-mini-2024-07-18");
  EXPECT_EQ(fine_tuned_row("ft:gpt-4o-2024-08-06"), "ft:gpt-4o-2024-08-06");
  EXPECT_FALSE(fine_tuned_row("gpt-4o-mini"));
  ASSERT_TRUE(t.find(mini));
  EXPECT_EQ(t.find(mini), t.find("ft:gpt-4o-mini")) << "the snapshot falls back to its fine-tuned family";
  EXPECT_NE(t.find(mini), t.find("gpt-4o-mini"));
  // API-FACTS §9, fine-tuned gpt-4o-mini: batch $0.15 / $0.075 cached / $0.60 per 1M tokens.
  const auto c = t.cost(mini, {1, 1'000'000, 400'000, 1'000'000, 0});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->batch, picousd{600'000} * 150'000 + picousd{400'000} * 75'000 + picousd{1'000'000} * 600'000);
  EXPECT_EQ(c->regular, 2 * c->batch);
  EXPECT_EQ(format_usd(c->batch), "0.72");
  // Fine-tuned gpt-4o: regular $3.75 / $1.875 / $15.00.
  const auto* big = t.find("ft:gpt-4o-2024-08-06:acme::xyz");
  ASSERT_TRUE(big);
  EXPECT_EQ(std::tuple(big->input, big->cached_input, big->output), std::tuple(3'750'000, 1'875'000, 15'000'000));
  // No ft: row for the base: unknown, not the base model's cheaper price.
  t.models.erase("ft:gpt-4o");
  EXPECT_FALSE(t.find("ft:gpt-4o-2024-08-06:acme::xyz"));
  EXPECT_TRUE(t.find("gpt-4o-2024-08-06"));
  EXPECT_FALSE(t.find("ft:gpt-4.1-mini-2025-04-14:acme:s:id"));
  // A row for the fine-tuned model itself wins.
  t.models[mini] = {2'000'000, 2'000'000, 2'000'000, std::nullopt, "", ""};
  EXPECT_EQ(t.find(mini)->input, 2'000'000);
}

TEST(pricing, cached_tokens_are_billed_once_at_the_cached_rate) {
  const auto t = shipped();
  // gpt-4o-mini: 1000 prompt tokens of which 400 cached, 100 completion.
  const auto c = t.cost("gpt-4o-mini", {1, 1000, 400, 100, 0});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->regular, 600 * 150'000 + 400 * 75'000 + 100 * 600'000);
  EXPECT_EQ(c->batch, 600 * 75'000 + 400 * 37'500 + 100 * 300'000);
  EXPECT_FALSE(t.cost("gpt-4o-mini", {2, 1000, 0, 0, 1})) << "a line without usage makes the cost unknown";
}

TEST(pricing, refuses_a_bad_table_with_every_problem) {
  std::vector<std::string> problems;
  pricing_table::from_json(json::parse(R"({"batch_discount_percent": 50, "models": {
      "a": {"input": "0.1234567"}, "b": {"output": "1"}, "c": {"input": "1", "colour": "red"},
      "d": {"input": "0.000001"}}})"),
                           problems);
  ASSERT_EQ(problems.size(), 4u);
  EXPECT_NE(problems[0].find("model a"), std::string::npos);
  EXPECT_NE(problems[1].find("\"input\" is missing"), std::string::npos);
  EXPECT_NE(problems[2].find("unknown field \"colour\""), std::string::npos);
  EXPECT_NE(problems[3].find("not a whole number"), std::string::npos) << "half of 1 pico-dollar";
}

TEST(ledger, a_million_line_booking_totals_the_exact_product) {
  const auto dir = fs::temp_directory_path() / ("batchd-ledger-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  constexpr std::int64_t n = 1'000'000;
  {
    std::FILE* in = std::fopen((dir / "in.jsonl").c_str(), "wb");
    std::FILE* out = std::fopen((dir / "out.jsonl").c_str(), "wb");
    for (std::int64_t i = 0; i < n; ++i) {
      std::fprintf(in, "{\"custom_id\":\"%lld\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{}}\n",
                   static_cast<long long>(i));
      // Varying usage, so the total is not one product by accident.
      std::fprintf(out,
                   "{\"custom_id\":\"%lld\",\"response\":{\"status_code\":200,\"body\":{\"model\":\"gpt-4o-mini-2024-07-18\","
                   "\"usage\":{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,"
                   "\"prompt_tokens_details\":{\"cached_tokens\":%lld}}}},\"error\":null}\n",
                   static_cast<long long>(i), static_cast<long long>(20 + i % 7), static_cast<long long>(3 + i % 5),
                   static_cast<long long>(i % 3 == 0 ? 16 : 0));
    }
    std::fclose(in);
    std::fclose(out);
  }
  jobs::chunk_outcome_input in;
  in.chunk = dir / "in.jsonl";
  in.output_file = dir / "out.jsonl";
  in.batch_status = "completed";
  const auto outcome = jobs::sort_chunk_results(in, dir / "sorted");
  ASSERT_EQ(outcome.succeeded, n);
  std::int64_t prompt = 0, completion = 0, cached = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    prompt += 20 + i % 7;
    completion += 3 + i % 5;
    cached += i % 3 == 0 ? 16 : 0;
  }
  store::job_row job;
  job.id = 1;
  job.model = "gpt-4o-mini";
  store::chunk_row chunk;
  chunk.id = 7;
  const auto entries = bookings_for(job, chunk, outcome.usage, shipped());
  ASSERT_EQ(entries.size(), 1u);
  const auto& e = entries[0];
  EXPECT_EQ(e.model, "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(e.requests, n);
  EXPECT_EQ(e.prompt_tokens, prompt);
  EXPECT_EQ(e.cached_tokens, cached);
  EXPECT_EQ(e.completion_tokens, completion);
  // Pico-dollars per token at the batch price: input 75,000; cached 37,500; output 300,000.
  EXPECT_EQ(*e.batch_cost, (prompt - cached) * 75'000 + cached * 37'500 + completion * 300'000);
  EXPECT_EQ(*e.regular_cost, 2 * *e.batch_cost);
  fs::remove_all(dir);
}

TEST(ledger, holds_over_the_job_limit_or_the_daily_budget) {
  const auto t = shipped();
  store::job_row job;
  job.name = "j";
  job.model = "gpt-4o";
  job.est_input_tokens = 1'000'000;  // $1.25 at the batch price
  const auto e = estimate(job, t);
  ASSERT_TRUE(e.batch);
  EXPECT_EQ(*e.batch, 1'250'000'000'000);
  EXPECT_FALSE(hold_reason(job, e, {}, 0, "2026-11-27")) << "no limits: no hold";
  job.max_cost = *parse_usd("1.00");
  auto why = hold_reason(job, e, {}, 0, "2026-11-27");
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("max_cost_usd $1.00;"), std::string::npos) << *why;
  job.max_cost = *parse_usd("2");
  budget b{parse_usd("10")};
  EXPECT_FALSE(hold_reason(job, e, b, *parse_usd("8.75"), "2026-11-27")) << "exactly at the budget is allowed";
  why = hold_reason(job, e, b, *parse_usd("8.750001"), "2026-11-27");
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("daily budget $10.00;"), std::string::npos) << *why;
  job.released = true;
  EXPECT_FALSE(hold_reason(job, e, b, *parse_usd("100"), "2026-11-27")) << "released jobs go";
  job.released = false;
  job.est_output_tokens = std::numeric_limits<std::int64_t>::max() / 2;  // an absurd max_tokens
  const auto huge = estimate(job, t);
  EXPECT_EQ(*huge.batch, std::numeric_limits<std::int64_t>::max()) << "saturates, never wraps to cheap";
  EXPECT_TRUE(hold_reason(job, huge, b, 0, "2026-11-27"));
  job.est_output_tokens = 0;
  job.model = "gpt-9";
  why = hold_reason(job, estimate(job, t), b, 0, "2026-11-27");
  ASSERT_TRUE(why) << "an unknown price under a budget is held, not assumed free";
  EXPECT_NE(why->find("not in the pricing table"), std::string::npos);
}

}  // namespace
}  // namespace batchd::ledger
