#pragma once
// GET /metrics: the Prometheus text exposition format (version 0.0.4).
#include <string>

namespace batchd::daemon {

struct control_context;

std::string render_metrics(const control_context& ctx);

}  // namespace batchd::daemon
