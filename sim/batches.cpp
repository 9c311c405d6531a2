#include "sim/batches.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <random>

#include "sim/api_error.hpp"
#include "sim/faults.hpp"
#include "sim/file_store.hpp"
#include "sim/ids.hpp"
#include "sim/processor.hpp"
#include "sim/stats.hpp"

namespace batchd::sim {
namespace {

using nlohmann::json;

constexpr double never = std::numeric_limits<double>::infinity();
constexpr std::int64_t default_enqueued_limit = 2'000'000;

json opt(const std::optional<std::int64_t>& v) { return v ? json(*v) : json(nullptr); }
json opt(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }
std::int64_t at(double t) { return static_cast<std::int64_t>(std::floor(t)); }

json error_line_body(int status) {
  if (status == 429)
    return error_body("Rate limit reached for requests. Please try again later.", "requests",
                      std::nullopt, "rate_limit_exceeded");
  if (status >= 500)
    return error_body("The server had an error while processing your request. Sorry about that!",
                      "server_error", std::nullopt, std::nullopt);
  return error_body("The request was rejected: simulated invalid request.",
                    "invalid_request_error", std::nullopt, std::nullopt);
}

}  // namespace

const char* to_string(batch_status s) {
  switch (s) {
    case batch_status::validating: return "validating";
    case batch_status::failed: return "failed";
    case batch_status::in_progress: return "in_progress";
    case batch_status::finalizing: return "finalizing";
    case batch_status::completed: return "completed";
    case batch_status::expired: return "expired";
    case batch_status::cancelling: return "cancelling";
    case batch_status::cancelled: return "cancelled";
  }
  return "unknown";
}

bool is_terminal(batch_status s) {
  return s == batch_status::failed || s == batch_status::completed ||
         s == batch_status::expired || s == batch_status::cancelled;
}

void to_json(json& j, const batch& b) {
  json errors = nullptr;
  if (!b.errors.empty()) {
    errors = {{"object", "list"}, {"data", json::array()}};
    for (const auto& e : b.errors)
      errors["data"].push_back(
          {{"code", e.code}, {"message", e.message}, {"param", opt(e.param)}, {"line", opt(e.line)}});
  }
  j = {{"id", b.id},
       {"object", "batch"},
       {"endpoint", b.endpoint},
       {"model", b.model.empty() ? json(nullptr) : json(b.model)},
       {"errors", errors},
       {"input_file_id", b.input_file_id},
       {"completion_window", b.completion_window},
       {"status", to_string(b.status)},
       {"output_file_id", opt(b.output_file_id)},
       {"error_file_id", opt(b.error_file_id)},
       {"created_at", b.created_at},
       {"in_progress_at", opt(b.in_progress_at)},
       {"expires_at", b.expires_at},
       {"finalizing_at", opt(b.finalizing_at)},
       {"completed_at", opt(b.completed_at)},
       {"failed_at", opt(b.failed_at)},
       {"expired_at", opt(b.expired_at)},
       {"cancelling_at", opt(b.cancelling_at)},
       {"cancelled_at", opt(b.cancelled_at)},
       {"request_counts", {{"total", b.total}, {"completed", b.completed}, {"failed", b.failed}}},
       {"metadata", b.metadata}};
  // The sum of the result lines' usage (the spec's Batch.usage), unless a fault says otherwise.
  if (!b.usage_absent) {
    const auto input = b.input_tokens + b.usage_extra_input_tokens;
    j["usage"] = {{"input_tokens", input},
                  {"input_tokens_details", {{"cached_tokens", b.cached_tokens}}},
                  {"output_tokens", b.output_tokens},
                  {"output_tokens_details", {{"reasoning_tokens", b.reasoning_tokens}}},
                  {"total_tokens", input + b.output_tokens}};
  }
}

batch& batch_registry::create(std::string endpoint, std::string input_file_id, json metadata,
                              double now) {
  batch b;
  b.id = env_.ids.make("batch_", 32);
  b.endpoint = std::move(endpoint);
  b.input_file_id = std::move(input_file_id);
  b.completion_window = "24h";
  b.metadata = std::move(metadata);
  b.created_at = at(now);
  b.expires_at = b.created_at + 86400;
  b.seq = next_seq_++;
  b.seed = env_.ids.next();
  auto& f = env_.faults;
  b.visible_at = now + f.settings().not_found_s;
  b.validate_until = now + env_.timing.validating_s;
  // A batch refused for the token limit never runs: it does not use up the
  // faults meant for a batch that runs.
  b.token_limit = f.take(&fault_settings::token_limit_next);
  if (!b.token_limit) {
    b.will_expire = f.take(&fault_settings::expire_next);
    b.fail_all = f.take(&fault_settings::fail_all_next);
    b.output_gone = f.take(&fault_settings::output_gone_next);
  }
  b.usage_extra_input_tokens = f.settings().usage_extra_input_tokens;
  b.usage_absent = f.settings().usage_absent;
  ++env_.stats.batches_by_metadata[b.metadata.dump()];
  auto [it, _] = batches_.emplace(b.id, std::move(b));
  return it->second;
}

batch* batch_registry::find(const std::string& id) {
  auto it = batches_.find(id);
  return it == batches_.end() ? nullptr : &it->second;
}

std::vector<batch*> batch_registry::newest_first() {
  std::vector<batch*> out;
  for (auto& [_, b] : batches_) out.push_back(&b);
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->seq > b->seq; });
  return out;
}

std::int64_t batch_registry::enqueued_tokens(const std::string& model) const {
  std::int64_t n = 0;
  for (const auto& [_, b] : batches_)
    if (b.model == model &&
        (b.status == batch_status::in_progress || b.status == batch_status::finalizing))
      n += b.enqueued_tokens;
  return n;
}

void batch_registry::validate(batch& b) {
  const auto* input = env_.files.find(b.input_file_id);
  auto fail = [&](batch_error e) {
    b.errors.push_back(std::move(e));
    b.status = batch_status::failed;
    b.failed_at = at(b.validate_until);
  };
  if (!input) return fail({"file_not_found", "The input file was deleted.", "input_file_id", {}});
  auto report = validate_batch_input(input->path, b.endpoint);
  b.model = report.model;
  if (!report.errors.empty()) {
    b.errors = std::move(report.errors);
    b.status = batch_status::failed;
    b.failed_at = at(b.validate_until);
    return;
  }
  const auto configured = env_.faults.settings().enqueued_token_limit;
  const auto limit = configured > 0 ? configured : default_enqueued_limit;
  if (b.token_limit ||
      (configured > 0 && enqueued_tokens(b.model) + report.prompt_tokens > configured)) {
    return fail({"token_limit_exceeded",
                 "Enqueued token limit reached for " + b.model +
                     " in organization org-batchdsim. Limit: " + std::to_string(limit) +
                     " enqueued tokens. Please try again once some in_progress batches have "
                     "been completed.",
                 {}, {}});
  }
  const auto n = report.lines.size();
  b.lines = std::move(report.lines);
  b.enqueued_tokens = report.prompt_tokens;
  b.total = static_cast<std::int64_t>(n);
  b.order.resize(n);
  for (std::uint32_t i = 0; i < n; ++i) b.order[i] = i;
  std::mt19937_64 rng(b.seed);
  std::shuffle(b.order.begin(), b.order.end(), rng);
  const auto& s = env_.faults.settings();
  std::uniform_real_distribution<double> u(0, 1);
  b.fates.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double x = u(rng);
    if (!b.lines[i].body_ok) b.fates[i] = line_fate::final_error;
    else if (b.fail_all) b.fates[i] = x < 0.5 ? line_fate::retryable_error : line_fate::final_error;
    else if (x < s.request_retryable_rate) b.fates[i] = line_fate::retryable_error;
    else if (x < s.request_retryable_rate + s.request_final_rate) b.fates[i] = line_fate::final_error;
    else b.fates[i] = line_fate::ok;
  }
  b.status = batch_status::in_progress;
  b.in_progress_at = at(b.validate_until);
  b.run_until = b.will_expire ? never
                              : b.validate_until + env_.timing.in_progress_base_s +
                                    env_.timing.per_request_s * static_cast<double>(n);
}

void batch_registry::run_until(batch& b, double t) {
  const auto n = b.order.size();
  // A batch doomed to expire runs at a pace that gets it halfway by expires_at.
  const double start = b.validate_until;
  const double end = b.run_until == never ? b.expires_at + (b.expires_at - start) : b.run_until;
  const double frac = std::clamp((t - start) / std::max(end - start, 1e-9), 0.0, 1.0);
  const auto target = static_cast<std::size_t>(frac * static_cast<double>(n));
  for (; b.ran < target; ++b.ran) {
    if (b.fates[b.order[b.ran]] == line_fate::ok) ++b.completed;
    else ++b.failed;
  }
}

bool batch_registry::cancel(batch& b, double now) {
  advance(b, now);
  if (is_terminal(b.status)) return false;
  if (b.status == batch_status::cancelling) return true;
  if (b.status == batch_status::in_progress) run_until(b, now);
  b.status = batch_status::cancelling;
  b.cancelling_at = at(now);
  b.cancel_until = now + env_.timing.cancelling_s;
  return true;
}

void batch_registry::advance_all(double now) {
  for (auto& [_, b] : batches_) advance(b, now);
}

void batch_registry::advance(batch& b, double now) {
  for (;;) {
    switch (b.status) {
      case batch_status::validating:
        if (now < b.validate_until) return;
        validate(b);
        continue;
      case batch_status::in_progress:
        if (b.will_expire && now >= b.expires_at) {
          run_until(b, b.expires_at);
          b.status = batch_status::expired;
          b.expired_at = b.expires_at;
          write_results(b, "batch_expired",
                        "This request could not be executed before the completion window "
                        "expired.");
          return;
        }
        if (now < b.run_until) return run_until(b, now);
        run_until(b, b.run_until);
        b.status = batch_status::finalizing;
        b.finalizing_at = at(b.run_until);
        b.finalize_until =
            b.run_until + env_.timing.finalizing_s + env_.faults.settings().finalizing_stuck_s;
        continue;
      case batch_status::finalizing:
        if (now < b.finalize_until) return;
        b.status = batch_status::completed;
        b.completed_at = at(b.finalize_until);
        write_results(b, nullptr, nullptr);
        return;
      case batch_status::cancelling:
        if (now < b.cancel_until) return;
        b.status = batch_status::cancelled;
        b.cancelled_at = at(b.cancel_until);
        write_results(b, "batch_cancelled",
                      "This request was not executed because the batch was cancelled.");
        return;
      default:
        return;
    }
  }
}

api_result batch_registry::run_line(const batch& b, std::size_t i, const json& request, std::int64_t done_at) const {
  const double cache_rate = env_.faults.settings().cache_hit_rate;
  switch (b.fates[i]) {
    case line_fate::ok:
      return run_request(b.endpoint, request["body"], {done_at, b.seed ^ i, cache_rate});
    case line_fate::retryable_error: {
      const int status = (b.seed ^ i) % 2 ? 500 : 429;
      return {status, error_line_body(status), {}, 0, 0, 0};
    }
    case line_fate::final_error: {
      auto r = run_request(b.endpoint, request["body"], {done_at, b.seed ^ i, cache_rate});
      if (r.status == 200) r = {400, error_line_body(400), {}, 0, 0, 0};
      return r;
    }
  }
  return {};
}

void batch_registry::count_usage(batch& b, const api_result& r) {
  b.input_tokens += r.prompt_tokens;
  b.cached_tokens += r.cached_tokens;
  b.output_tokens += r.completion_tokens;
  b.reasoning_tokens += r.reasoning_tokens;
  auto& u = env_.stats.batch_usage[r.model];
  ++u.requests;
  u.prompt_tokens += r.prompt_tokens;
  u.cached_tokens += r.cached_tokens;
  u.completion_tokens += r.completion_tokens;
  u.reasoning_tokens += r.reasoning_tokens;
  u.image_tokens += r.image_tokens;
}

void batch_registry::publish_file(const batch& b, const std::filesystem::path& p, std::int64_t lines,
                                  const char* suffix, std::optional<std::string>& id, bool gone,
                                  std::int64_t done_at) {
  if (lines == 0) {
    std::filesystem::remove(p);
    return;
  }
  id = env_.files
           .add(env_.ids.make("file-", 22), b.id + suffix, "batch_output", p, done_at, done_at + 30 * 86400,
                gone ? std::numeric_limits<double>::infinity() : 0)
           .id;
}

void batch_registry::write_results(batch& b, const char* unrun_code, const char* unrun_message) {
  const auto* input = env_.files.find(b.input_file_id);
  const auto out_path = env_.files.temp_path(), err_path = env_.files.temp_path();
  std::ofstream out(out_path, std::ios::binary), err(err_path, std::ios::binary);
  std::ifstream in;
  if (input) in.open(input->path, std::ios::binary);
  std::int64_t ok = 0, failed_ran = 0, unrun = 0;
  const std::int64_t done_at = b.completed_at.value_or(b.expired_at.value_or(b.cancelled_at.value_or(b.created_at)));
  std::string raw;
  for (std::size_t k = 0; k < b.order.size(); ++k) {
    const auto i = b.order[k];
    const auto& line = b.lines[i];
    raw.resize(line.length);
    json request;
    if (in.is_open()) {
      in.clear();
      in.seekg(static_cast<std::streamoff>(line.offset));
      in.read(raw.data(), line.length);
      request = json::parse(raw, nullptr, false);
    }
    const std::string custom_id = request.is_object() ? request.value("custom_id", "") : "line-" + std::to_string(i + 1);
    json result = {{"id", env_.ids.make("batch_req_", 32)}, {"custom_id", custom_id}};
    if (k >= b.ran || !request.is_object()) {
      result["response"] = nullptr;
      result["error"] = {{"code", unrun_code ? unrun_code : "batch_expired"},
                         {"message", unrun_message ? unrun_message : "The request was not run."}};
      err << result.dump() << '\n';
      ++unrun;
      continue;
    }
    const auto request_id = env_.ids.make("req_", 32);
    const auto r = run_line(b, i, request, done_at);
    result["response"] = {{"status_code", r.status}, {"request_id", request_id}, {"body", r.body}};
    result["error"] = nullptr;
    if (r.status == 200) {
      ++ok;
      count_usage(b, r);
      out << result.dump() << '\n';
    } else {
      ++failed_ran;
      err << result.dump() << '\n';
    }
  }
  out.close();
  err.close();
  b.completed = ok;
  b.failed = failed_ran + (env_.faults.settings().counts_mismatch ? 0 : unrun);
  publish_file(b, out_path, ok, "_output.jsonl", b.output_file_id, b.output_gone, done_at);
  publish_file(b, err_path, failed_ran + unrun, "_error.jsonl", b.error_file_id, false, done_at);
  // The plan is spent: free it.
  b.lines = {};
  b.order = {};
  b.fates = {};
}

}  // namespace batchd::sim
