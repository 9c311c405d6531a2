#include "daemon/control_money.hpp"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "ledger/ledger.hpp"
#include "ledger/pricing.hpp"
#include "store/database.hpp"

namespace batchd::daemon {
namespace {

using nlohmann::json;

bool is_date(const std::string& s) {
  return s.size() == 10 && s[4] == '-' && s[7] == '-' &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '-'; });
}

}  // namespace

control_response ledger_route(store::database& db, const query_params& query) {
  store::ledger_query q;
  if (auto it = query.find("by"); it != query.end()) q.by = it->second;
  if (q.by != "day" && q.by != "month" && q.by != "model" && q.by != "job")
    return error_response(400, "invalid_parameter", "by must be day, month, model or job");
  for (const char* bound : {"since", "until"}) {
    auto it = query.find(bound);
    if (it == query.end()) continue;
    if (!is_date(it->second))
      return error_response(400, "invalid_parameter", std::string(bound) + " must be a UTC date, YYYY-MM-DD");
    (std::string(bound) == "since" ? q.since : q.until) = it->second;
  }
  json rows = json::array();
  for (const auto& s : db.ledger(q)) {
    auto row = ledger::money_json(s);
    row["key"] = s.key;
    if (q.by == "model") row["priced_as"] = s.priced_as.empty() ? json(nullptr) : json(s.priced_as);
    rows.push_back(row);
  }
  const auto by = q.by;
  q.by = "all";
  const auto totals = db.ledger(q);
  auto total = totals.empty() ? ledger::money_json({}) : ledger::money_json(totals.front());
  return json_response({{"object", "ledger"},
                        {"by", by},
                        {"since", q.since ? json(*q.since) : json(nullptr)},
                        {"until", q.until ? json(*q.until) : json(nullptr)},
                        {"currency", "USD"},
                        {"rows", rows},
                        {"total", total}});
}

control_response prices_route(const ledger::pricing_table& table, const query_params& query) {
  json head = {{"object", "prices"},
               {"table", table.origin},
               {"as_of", table.as_of},
               {"batch_rule", {{"percent", table.batch_rule_percent}, {"source", table.batch_rule_source}}}};
  if (auto it = query.find("model"); it != query.end()) {
    const auto found = table.find(it->second);
    if (!found)
      return error_response(404, "unknown_model",
                            "no row prices model '" + it->second +
                                "': its cost would be booked as unknown (never 0), and a job on it with a budget or "
                                "max_cost_usd is held; add a row to the pricing file and reload (SIGHUP)");
    auto row = ledger::price_json(found->row, *found->price);
    row["asked"] = it->second;
    head["models"] = json::array({row});
    return json_response(head);
  }
  json rows = json::array();
  for (const auto& [name, p] : table.models) rows.push_back(ledger::price_json(name, p));
  head["models"] = rows;
  return json_response(head);
}

}  // namespace batchd::daemon
