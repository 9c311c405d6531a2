#pragma once
// GET /metrics: the Prometheus text exposition format (version 0.0.4).
#include <cstdint>
#include <map>
#include <string>

namespace batchd::store {
class database;
}

namespace batchd::daemon {

struct control_context;

std::string render_metrics(const control_context& ctx);

// Jobs counted by the status users see (queued, held, …), every status present.
std::map<std::string, std::int64_t> jobs_by_public_status(store::database& db);

}  // namespace batchd::daemon
