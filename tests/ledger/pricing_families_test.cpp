// A dated snapshot of each family that users batch in December 2026, booked
// at the built-in table's batch prices: cached input, reasoning (inside the
// output), cache writes, long context past 272,000 input tokens, image
// tokens. Each expected figure was worked out by hand from the row's
// numbers in etc/pricing.json, and is compared as the exact string users see.
#include <gtest/gtest.h>

#include "ledger/money.hpp"
#include "ledger/pricing.hpp"
#include "tests/ledger/usage_lines.hpp"

namespace batchd::ledger {
namespace {

using testing::line;

struct booked {
  std::string batch, regular, row;
};

booked cost_of(const std::string& model, const token_usage& u) {
  const auto c = pricing_table::builtin().cost(model, u);
  if (!c.cost) return {"unknown: " + c.unknown_because, "", ""};
  return {format_usd(c.cost->batch), format_usd(c.cost->regular), c.cost->row};
}

void expect(const std::string& model, const token_usage& u, const char* batch, const char* regular, const char* row) {
  const auto b = cost_of(model, u);
  EXPECT_EQ(b.batch, batch) << model;
  EXPECT_EQ(b.regular, regular) << model;
  EXPECT_EQ(b.row, row) << model;
}

TEST(price_families, gpt_4_1_with_cached_input_at_half_the_cached_price) {
  // Batch: input 0.20, cached 0.10 / 2 (no batch cached price is published), output 0.80.
  expect("gpt-4.1-mini-2025-04-14", line(1'000'000, 250'000, 400'000), "0.4825", "0.965", "gpt-4.1-mini-2025-04-14");
}

TEST(price_families, gpt_4o_snapshot) {
  // Batch: input 1.25, cached 1.25 / 2, output 5.00.
  expect("gpt-4o-2024-11-20", line(1'000'000, 250'000, 400'000), "3.09375", "6.1875", "gpt-4o-2024-11-20");
}

TEST(price_families, o_series_reasoning_is_inside_the_output) {
  // o3 batch: input 1.00, cached 0.50 / 2, output 4.00; 240,000 of the 300,000 output tokens are reasoning.
  expect("o3-2025-04-16", line(100'000, 20'000, 300'000, 240'000), "1.285", "2.57", "o3-2025-04-16");
  EXPECT_EQ(cost_of("o3-2025-04-16", line(100'000, 20'000, 300'000)).batch, "1.285")
      << "reasoning tokens are output tokens, not billed twice";
}

TEST(price_families, gpt_5_with_the_published_batch_cached_price) {
  // gpt-5-mini batch: input 0.125, cached 0.0125, output 1.00.
  expect("gpt-5-mini-2025-08-07", line(2'000'000, 1'000'000, 500'000, 400'000), "0.6375", "1.275",
         "gpt-5-mini-2025-08-07");
}

TEST(price_families, gpt_5_4_long_context_prices_the_whole_request) {
  // Short: batch input 1.25, cached 0.13 (as published), output 7.50.
  // Long (over 272,000 input): input 5.00, cached 0.50, output 22.50 regular, halved in batch.
  auto both = line(100'000, 10'000, 20'000);
  both += line(300'000, 100'000, 50'000, 30'000);
  expect("gpt-5.4-2026-03-05", both, "1.3513", "2.7025", "gpt-5.4");
  EXPECT_EQ(cost_of("gpt-5.4", line(272'000, 0, 0)).batch, "0.34") << "exactly 272,000 is short";
  EXPECT_EQ(cost_of("gpt-5.4", line(272'001, 0, 0)).batch, "0.6800025") << "one more is long, all of it";
}

TEST(price_families, gpt_5_6_cache_writes_at_their_own_price) {
  // gpt-5.6-terra batch: input 1.00, cached 0.10, cache write 2.50 / 2, output 6.00.
  expect("gpt-5.6-terra-2026-07-30", line(200'000, 60'000, 100'000, 50'000, 40'000), "0.756", "1.512", "gpt-5.6-terra");
}

TEST(price_families, gpt_6) {
  // gpt-6-luna batch: input 0.05, cached 0.005, cache write 0.125 / 2, output 0.25.
  expect("gpt-6-luna", line(200'000, 80'000, 200'000, 150'000, 20'000), "0.05665", "0.1133", "gpt-6-luna");
  // gpt-6.1-terra batch as published: input 0.50, cached 0.025, output 2.50; past 272,000
  // input tokens 2.00 / 0.10 / 7.50 regular, halved in batch by the rule.
  expect("gpt-6.1-terra", line(250'000, 50'000, 100'000, 60'000), "0.35125", "0.7025", "gpt-6.1-terra");
  expect("gpt-6.1-terra", line(1'000'000, 200'000, 100'000), "1.185", "2.37", "gpt-6.1-terra");
  // gpt-6.2-astra: only $8 / $40 are published; batch by the 50% rule; a cached token is unknown.
  expect("gpt-6.2-astra", line(1'000, 0, 1'000), "0.024", "0.048", "gpt-6.2-astra");
  EXPECT_NE(cost_of("gpt-6.2-astra", line(1'000, 500, 1'000)).batch.find("no cached input price"), std::string::npos);
}

TEST(price_families, embeddings_moderation_and_images) {
  expect("text-embedding-3-large", line(1'000'000, 0, 0), "0.065", "0.13", "text-embedding-3-large");
  expect("omni-moderation-2024-09-26", line(5'000, 0, 0), "0.00", "0.00", "omni-moderation-2024-09-26");
  // gpt-image-2 batch: text input 2.50, image input 4.00, image output 15.00;
  // 1,000 text and 512 image tokens in, two medium images (1,056 tokens each) out.
  expect("gpt-image-2", line(1'512, 0, 2'112, 0, 0, 512), "0.036228", "0.072456", "gpt-image-2");
}

TEST(price_families, no_discount_and_no_batch_are_said_plainly) {
  expect("gpt-3.5-turbo-1106", line(1'000'000, 0, 0), "1.00", "1.00", "gpt-3.5-turbo-1106");
  EXPECT_NE(cost_of("gpt-3.5-turbo-instruct", line(10, 0, 10)).batch.find("not offered in batch"), std::string::npos);
}

}  // namespace
}  // namespace batchd::ledger
