// The USD strings users read add up as the integers do: saved = regular -
// batch, exactly, for every booking, every per-model row and the job's
// total, over 1,000 random bookings through a real SQLite ledger.
#include <gtest/gtest.h>

#include <random>

#include "tests/support/job_fixture.hpp"
#include "ledger/ledger.hpp"
#include "ledger/money.hpp"
#include "ledger/pricing.hpp"

namespace batchd::ledger {
namespace {

using nlohmann::json;

class ledger_strings : public jobs::testing::job_fixture {
 protected:
  ledger_strings() : job_fixture("ledger-strings") {}
};

// Whether a money_json's strings add up; `why` says how they do not.
bool strings_add_up(const json& m, std::string& why) {
  const auto batch = parse_usd(m.at("batch_usd").get<std::string>());
  const auto regular = parse_usd(m.at("regular_usd").get<std::string>());
  const auto saved = parse_usd(m.at("saved_usd").get<std::string>());
  why = m.dump();
  return batch && regular && saved && *saved == *regular - *batch && *batch == m.at("batch_pusd") &&
         *regular == m.at("regular_pusd");
}

// A random table: prices up to $20 per 1M tokens with up to 6 decimals,
// even in pico-dollars so the batch discount of 50% stays whole.
pricing_table random_prices(std::mt19937_64& rng, int models) {
  std::uniform_int_distribution<std::int64_t> price(1, 10'000'000);
  auto usd_per_million = [&] {
    const auto pico_per_token = 2 * price(rng);
    const auto micro = std::to_string(pico_per_token % 1'000'000);
    return std::to_string(pico_per_token / 1'000'000) + "." + std::string(6 - micro.size(), '0') +
           micro;
  };
  json rows = json::object();
  for (int i = 0; i < models; ++i)
    rows["model-" + std::to_string(i)] = {{"input", usd_per_million()},
                                          {"cached_input", usd_per_million()},
                                          {"output", usd_per_million()}};
  std::vector<std::string> problems;
  auto t = pricing_table::from_json({{"batch_discount_percent", 50}, {"models", rows}}, problems);
  EXPECT_TRUE(problems.empty()) << problems.front();
  return t;
}

TEST_F(ledger_strings, saved_is_regular_minus_batch_in_the_strings_over_1000_random_bookings) {
  std::mt19937_64 rng(16);
  const auto prices = random_prices(rng, 8);
  const auto job_id = db->insert_job("random", "requests", "/nowhere.jsonl", 1);
  const auto job = *db->job(job_id);
  std::uniform_int_distribution<std::int64_t> tokens(0, 10'000'000), model(0, 7);
  int bookings = 0, mismatches = 0;
  std::string why;
  db->transaction([&] {  // one commit, not a thousand fsyncs
    for (int i = 1; i <= 1000; ++i) {
      store::chunk_row c;
      c.job_id = job_id;
      c.idx = i;
      c.attempt = 1;
      c.stage = "assembled";
      c.path = "/nowhere.jsonl";
      c.sha256 = std::string(64, '0');
      c.id = db->insert_chunk(c, 1);
      token_usage u{1, tokens(rng), 0, tokens(rng) / 10, 0};
      u.cached = std::uniform_int_distribution<std::int64_t>(0, u.prompt)(rng);
      const std::map<std::string, token_usage> usage{{"model-" + std::to_string(model(rng)), u}};
      for (const auto& e : bookings_for(job, c, usage, prices)) {
        EXPECT_TRUE(db->book(e, 1));
        store::ledger_sum one;
        one.requests = one.priced_requests = e.requests;
        one.batch_cost = e.batch_cost.value_or(-1);
        one.regular_cost = e.regular_cost.value_or(-1);
        if (!strings_add_up(money_json(one), why) && ++mismatches <= 5)
          ADD_FAILURE() << "booking: " << why;
        ++bookings;
      }
    }
  });
  EXPECT_EQ(bookings, 1000);
  EXPECT_EQ(mismatches, 0);
  // What job.json and the socket show: the job's total and its rows by model.
  const auto cost = job_money(*db, job, prices)["cost"];
  EXPECT_TRUE(strings_add_up(cost, why)) << why;
  EXPECT_EQ(cost["by_model"].size(), 8u);
  for (const auto& row : cost["by_model"]) EXPECT_TRUE(strings_add_up(row, why)) << why;
}

}  // namespace
}  // namespace batchd::ledger
