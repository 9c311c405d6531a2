#pragma once
// The money routes: GET /v1/ledger (bookings summed by day, month, model or
// job) and GET /v1/prices (the pricing table in force, or the row that
// prices one model).
#include <map>
#include <string>

#include "daemon/control_http.hpp"

namespace batchd::store {
class database;
}
namespace batchd::ledger {
class pricing_table;
}

namespace batchd::daemon {

using query_params = std::map<std::string, std::string>;

// ?by=day|month|model|job&since=YYYY-MM-DD&until=YYYY-MM-DD; by model, each
// row names the price row(s) that priced it ("priced_as").
control_response ledger_route(store::database& db, const query_params& query);
// ?model=NAME: the row that prices NAME (404 unknown_model when none does).
control_response prices_route(const ledger::pricing_table& table, const query_params& query);

}  // namespace batchd::daemon
