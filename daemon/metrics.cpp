#include "daemon/metrics.hpp"

#include "openai/client.hpp"
#include "daemon/control_api.hpp"
#include "store/database.hpp"
#include "ledger/money.hpp"
#include "jobs/lifecycle/pipeline.hpp"
#include "jobs/core/stage.hpp"

namespace batchd::daemon {
namespace {

// Label values escape backslash, quote and newline.
std::string label(const std::string& v) {
  std::string out;
  for (char ch : v) {
    if (ch == '\\' || ch == '"') out += '\\';
    if (ch == '\n') {
      out += "\\n";
      continue;
    }
    out += ch;
  }
  return out;
}

class exposition {
 public:
  void family(const std::string& name, const std::string& type, const std::string& help) {
    text_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void sample(const std::string& name, const std::string& labels, std::uint64_t value) {
    sample(name, labels, std::to_string(value));
  }
  void sample(const std::string& name, const std::string& labels, const std::string& value) {
    text_ += name + (labels.empty() ? "" : "{" + labels + "}") + " " + value + "\n";
  }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
};

}  // namespace

std::map<std::string, std::int64_t> jobs_by_public_status(store::database& db) {
  std::map<std::string, std::int64_t> by_status;
  for (const auto st : jobs::all_job_stages) by_status[std::string(jobs::public_status(st))] = 0;
  for (const auto& [stage, n] : db.jobs_by_stage())
    if (auto st = jobs::parse_job_stage(stage)) by_status[std::string(jobs::public_status(*st))] += n;
  return by_status;
}

std::string render_metrics(const control_context& ctx) {
  exposition m;
  m.family("batchd_jobs", "gauge", "Jobs by status.");
  for (const auto& [status, n] : jobs_by_public_status(ctx.db))
    m.sample("batchd_jobs", "status=\"" + label(status) + "\"", static_cast<std::uint64_t>(n));

  m.family("batchd_jobs_held", "gauge", "Held jobs by why: over a cost limit, or the account out of quota.");
  for (const auto& [why, n] : ctx.db.held_jobs_by_reason())
    m.sample("batchd_jobs_held", "reason=\"" + label(why) + "\"", static_cast<std::uint64_t>(n));

  m.family("batchd_batches", "gauge", "OpenAI batches by their last known status.");
  for (const auto& [status, n] : ctx.db.batches_by_status())
    m.sample("batchd_batches", "status=\"" + label(status) + "\"", static_cast<std::uint64_t>(n));

  const auto& st = ctx.api.stats();
  m.family("batchd_api_calls_total", "counter", "API calls by route and outcome (retries included).");
  for (const auto& [key, n] : st.calls)
    m.sample("batchd_api_calls_total", "route=\"" + label(key.first) + "\",outcome=\"" + label(key.second) + "\"", n);
  m.family("batchd_api_retries_total", "counter", "API calls repeated after a retryable failure.");
  m.sample("batchd_api_retries_total", "", st.retries);
  m.family("batchd_api_bytes_sent_total", "counter", "Request body bytes sent to the API.");
  m.sample("batchd_api_bytes_sent_total", "", st.bytes_up);
  m.family("batchd_api_bytes_received_total", "counter", "Response body bytes received from the API.");
  m.sample("batchd_api_bytes_received_total", "", st.bytes_down);

  store::ledger_query all;
  all.by = "all";
  const auto booked = ctx.db.ledger(all);
  const store::ledger_sum total = booked.empty() ? store::ledger_sum{} : booked.front();
  m.family("batchd_cost_usd_total", "counter", "Cost booked in the ledger (USD, exact), at the batch price and at the regular price it saved against.");
  m.sample("batchd_cost_usd_total", "price=\"batch\"", ledger::format_usd(total.batch_cost));
  m.sample("batchd_cost_usd_total", "price=\"regular\"", ledger::format_usd(total.regular_cost));
  m.family("batchd_tokens_total", "counter", "Tokens booked, by kind (prompt includes cached).");
  m.sample("batchd_tokens_total", "kind=\"prompt\"", static_cast<std::uint64_t>(total.prompt_tokens));
  m.sample("batchd_tokens_total", "kind=\"cached\"", static_cast<std::uint64_t>(total.cached_tokens));
  m.sample("batchd_tokens_total", "kind=\"completion\"", static_cast<std::uint64_t>(total.completion_tokens));
  m.family("batchd_unpriced_requests_total", "counter", "Requests booked with unknown cost (model not in the pricing table).");
  m.sample("batchd_unpriced_requests_total", "", static_cast<std::uint64_t>(total.unpriced_requests));

  const auto checks = ctx.db.usage_check_counts();
  m.family("batchd_usage_checked_total", "counter",
           "Merged batches whose own usage (Batch.usage) was compared with the tokens booked from their lines.");
  m.sample("batchd_usage_checked_total", "", static_cast<std::uint64_t>(checks.checked));
  m.family("batchd_usage_mismatch_total", "counter",
           "Merged batches whose own usage differed from the tokens booked from their lines (the ledger books the lines).");
  m.sample("batchd_usage_mismatch_total", "", static_cast<std::uint64_t>(checks.mismatched));

  m.family("batchd_jobs_running", "gauge", "Jobs the pipeline is driving now.");
  m.sample("batchd_jobs_running", "", ctx.runner.running());
  m.family("batchd_state_bytes", "gauge", "Bytes under the state directory (database and working files).");
  m.sample("batchd_state_bytes", "", ctx.runner.state_bytes());
  m.family("batchd_control_connections", "gauge", "Open control socket connections.");
  m.sample("batchd_control_connections", "", ctx.connections ? ctx.connections() : 0);
  return m.take();
}

}  // namespace batchd::daemon
