// Money: exact parsing and display, a 1,000,000-line booking, holds over a
// job's limit or the daily budget. The table itself: pricing_test.cpp.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <limits>
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
  job.model = "gpt-3.5-turbo-instruct";  // priced, but OpenAI lists no batch price for it
  why = hold_reason(job, estimate(job, t), b, 0, "2026-11-27");
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("(row gpt-3.5-turbo-instruct) has no published batch price"), std::string::npos) << *why;
}

}  // namespace
}  // namespace batchd::ledger
