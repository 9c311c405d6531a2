// batchctl ledger and batchctl prices: what was booked, and the prices in force.
#include <algorithm>
#include <iostream>

#include "daemon/batchctl_client.hpp"

namespace batchctl {
namespace {

// "2.50 / 1.25" (regular / batch); a batch rate derived by the table's rule is marked "*".
std::string rate_text(const json& tier, const char* key) {
  if (!tier.contains(key)) return "-";
  const auto& batch = tier.value("batch", json::object());
  const auto by_rule = tier.value("batch_by_rule", json::array());
  const bool ruled = std::find(by_rule.begin(), by_rule.end(), key) != by_rule.end();
  return str(tier, key) + " / " + str(batch, key, "none") + (ruled ? "*" : "");
}

void print_price(const json& row) {
  std::vector<std::vector<std::string>> rows{{"model", str(row, "asked", str(row, "model"))},
                                             {"priced by row", str(row, "model")}};
  for (const auto& [label, tier] : {std::pair{"", row}, std::pair{"past 272k input: ", row.value("above_272k", json())},
                                    std::pair{"image ", row.value("image", json())}}) {
    if (tier.is_null()) continue;
    for (const char* key : {"input", "cached_input", "cache_write", "output"})
      if (tier.contains(key)) rows.push_back({std::string(label) + key, rate_text(tier, key)});
  }
  rows.push_back({"offered in batch", row.value("batch_offered", true) ? "yes" : "no (its cost is unknown)"});
  if (!row["shutdown"].is_null())
    rows.push_back({"shuts down", str(row, "shutdown") + (row["replacement"].is_null() ? "" : "; instead: " + str(row, "replacement"))});
  rows.push_back({"as of", str(row, "as_of")});
  rows.push_back({"source", str(row, "source")});
  print_table(rows);
}

}  // namespace

int cmd_prices(const options& o, const std::string& model) {
  const auto j = call(o, "GET", model.empty() ? "/v1/prices" : "/v1/prices?model=" + url_encode(model));
  if (o.json_out) return 0;
  std::cout << "table: " << str(j, "table") << " (as of " << str(j, "as_of") << "); USD per 1M tokens, regular / batch\n";
  if (!model.empty()) {
    print_price(j["models"].at(0));
  } else {
    std::vector<std::vector<std::string>> rows{{"MODEL", "INPUT", "CACHED", "OUTPUT", "SHUTDOWN", "AS OF"}};
    for (const auto& r : j.value("models", json::array()))
      rows.push_back({str(r, "model"), rate_text(r, "input"), rate_text(r, "cached_input"), rate_text(r, "output"),
                      str(r, "shutdown"), str(r, "as_of")});
    print_table(rows);
  }
  std::cout << "* batch rate by the table's rule: " << j["batch_rule"].value("percent", 50) << "% off the regular one ("
            << str(j["batch_rule"], "source") << ")\n";
  return 0;
}

int cmd_ledger(const options& o, const std::string& by, const std::string& since, const std::string& until) {
  std::string target = "/v1/ledger?by=" + url_encode(by);
  if (!since.empty()) target += "&since=" + url_encode(since);
  if (!until.empty()) target += "&until=" + url_encode(until);
  const auto j = call(o, "GET", target);
  if (o.json_out) return 0;
  const std::string key = by == "job" ? "JOB" : by == "model" ? "MODEL" : by == "month" ? "MONTH" : "DAY";
  std::vector<std::string> head{key, "REQUESTS", "INPUT", "CACHED", "OUTPUT", "REASONING", "BATCH $", "REGULAR $", "SAVED $"};
  if (by == "model") head.push_back("PRICED AS");
  std::vector<std::vector<std::string>> rows{head};
  auto row = [&](const std::string& name, const json& r) {
    rows.push_back({name, str(r, "requests"), str(r, "prompt_tokens"), str(r, "cached_tokens"),
                    str(r, "completion_tokens"), str(r, "reasoning_tokens", "0"), str(r, "batch_usd", "unknown"),
                    str(r, "regular_usd", "unknown"), str(r, "saved_usd", "unknown")});
    if (by == "model") rows.back().push_back(name == "TOTAL" ? "" : str(r, "priced_as", "no row"));
  };
  for (const auto& r : j.value("rows", json::array())) row(str(r, "key"), r);
  row("TOTAL", j.value("total", json::object()));
  print_table(rows);
  std::cout << "(reasoning tokens are inside the output and billed as output)\n";
  if (j.value("total", json::object()).value("unpriced_requests", 0LL) > 0)
    std::cout << "note: some requests used models missing from the pricing table; their cost is unknown, "
                 "not zero (batchctl prices MODEL)\n";
  return 0;
}

}  // namespace batchctl
