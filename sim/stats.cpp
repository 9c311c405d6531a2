#include "sim/stats.hpp"

#include <nlohmann/json.hpp>

namespace batchd::sim {
namespace {

nlohmann::json usage_json(const std::map<std::string, usage_totals>& m) {
  auto j = nlohmann::json::object();
  for (const auto& [model, u] : m)
    j[model] = {{"requests", u.requests},
                {"prompt_tokens", u.prompt_tokens},
                {"cached_tokens", u.cached_tokens},
                {"completion_tokens", u.completion_tokens},
                {"reasoning_tokens", u.reasoning_tokens},
                {"image_tokens", u.image_tokens},
                {"total_tokens", u.prompt_tokens + u.completion_tokens}};
  return j;
}

nlohmann::json attempts_json(const std::map<std::string, std::vector<create_attempt>>& m) {
  auto j = nlohmann::json::object();
  for (const auto& [key, list] : m)
    for (const auto& a : list) j[key].push_back({{"at", a.at}, {"outcome", a.outcome}});
  return j;
}

}  // namespace

void to_json(nlohmann::json& j, const sim_stats& s) {
  auto calls = nlohmann::json::object();
  for (const auto& [route, by_status] : s.calls)
    for (const auto& [status, n] : by_status) calls[route][status] = n;
  j = {{"uploads_by_filename", s.uploads_by_filename},
       {"batches_by_metadata", s.batches_by_metadata},
       {"calls", calls},
       {"upload_attempts", attempts_json(s.upload_attempts)},
       {"batch_attempts", attempts_json(s.batch_attempts)},
       {"batch_first_read", s.batch_first_read},
       {"usage", {{"batch", usage_json(s.batch_usage)}, {"sync", usage_json(s.sync_usage)}}}};
}

}  // namespace batchd::sim
