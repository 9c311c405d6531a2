#include "jobs/results/chunk_results.hpp"

#include <simdjson.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <system_error>
#include <unordered_map>

#include "io/atomic_file.hpp"
#include "io/line_reader.hpp"
#include "jobfiles/manifest_assembly.hpp"

namespace batchd::jobs {
namespace {

enum class fate : std::uint8_t { pending, succeeded, failed, retry };

struct result_line {
  std::string custom_id;
  int status = 0;          // response.status_code, 0 when there is no response
  std::string error_code;  // error.code, or response.body.error.code
  std::string model;       // response.body.model
  ledger::token_usage usage;       // response.body.usage (requests = 1; without_usage = 1 if absent)
};

// Chat and embeddings say prompt/completion tokens; the Responses API says input/output.
ledger::token_usage read_usage(simdjson::dom::element body) {
  ledger::token_usage u;
  u.requests = 1;
  simdjson::dom::element usage;
  if (body["usage"].get(usage) || !usage.is_object()) {
    u.without_usage = 1;
    return u;
  }
  std::int64_t n = 0;
  if (!usage["prompt_tokens"].get(n) || !usage["input_tokens"].get(n)) u.prompt = n;
  n = 0;
  if (!usage.at_pointer("/prompt_tokens_details/cached_tokens").get(n) ||
      !usage.at_pointer("/input_tokens_details/cached_tokens").get(n))
    u.cached = n;
  n = 0;
  if (!usage["completion_tokens"].get(n) || !usage["output_tokens"].get(n)) u.completion = n;
  return u;
}

bool parse_result(simdjson::dom::parser& parser, std::string_view line, result_line& out) {
  simdjson::dom::element doc;
  if (parser.parse(line.data(), line.size(), false).get(doc) || !doc.is_object()) return false;
  std::string_view id;
  if (doc["custom_id"].get(id)) return false;
  out.custom_id = id;
  out.status = 0;
  out.error_code.clear();
  out.model.clear();
  out.usage = {};
  out.usage.requests = 1;
  out.usage.without_usage = 1;  // until a body with usage says otherwise
  simdjson::dom::element response;
  if (!doc["response"].get(response) && response.is_object()) {
    std::int64_t status = 0;
    if (!response["status_code"].get(status)) out.status = static_cast<int>(status);
    std::string_view code;
    if (!response.at_pointer("/body/error/code").get(code)) out.error_code = code;
    simdjson::dom::element body;
    if (!response["body"].get(body) && body.is_object()) {
      std::string_view model;
      if (!body["model"].get(model)) out.model = model;
      out.usage = read_usage(body);
    }
  }
  std::string_view code;
  if (!doc.at_pointer("/error/code").get(code)) out.error_code = code;
  return true;
}

// Calls fn(custom_id, line) for each request line of a (validated) chunk.
template <class F>
void for_each_request(const chunk_outcome_input& in, F&& fn) {
  simdjson::dom::parser parser;
  io::line_reader reader(in.chunk, in.chunk_offset, in.chunk_length);
  std::string_view line;
  while (reader.next(line)) {
    simdjson::dom::element doc;
    std::string_view id;
    if (parser.parse(line.data(), line.size(), false).get(doc) || doc["custom_id"].get(id))
      continue;  // chunks are validated: cannot happen
    fn(id, line);
  }
}

// Calls fn(custom_id) for each id the attempt was asked to run.
template <class F>
void for_each_asked(const chunk_outcome_input& in, F&& fn) {
  if (in.ids_file.empty()) {
    for_each_request(in, [&](std::string_view id, std::string_view) { fn(id); });
    return;
  }
  io::line_reader reader(in.ids_file);
  std::string_view id;
  while (reader.next(id))
    if (!id.empty()) fn(id);
}

std::string synthesized_error(const std::string& custom_id, const std::string& code,
                              const std::string& message) {
  return nlohmann::json{{"custom_id", custom_id},
                        {"response", nullptr},
                        {"error", {{"code", code}, {"message", message}}}}
      .dump();
}

}  // namespace

bool is_retryable_failure(int status, std::string_view code) {
  if (code == "insufficient_quota") return false;  // waiting does not refill a quota
  if (status == 408 || status == 409 || status == 429 || status >= 500) return true;
  return code == "batch_expired" || code == "batch_cancelled" || code == "rate_limit_exceeded" ||
         code == "server_error";
}

chunk_outcome sort_chunk_results(const chunk_outcome_input& in, const std::filesystem::path& prefix) {
  std::unordered_map<std::string, fate> fates;
  std::vector<std::string> order;
  for_each_asked(in, [&](std::string_view id) {
    if (fates.emplace(id, fate::pending).second) order.emplace_back(id);
  });
  chunk_outcome out;
  out.results = prefix.string() + ".results.jsonl";
  out.errors = prefix.string() + ".errors.jsonl";
  io::atomic_file results(out.results), errors(out.errors);
  const bool retries = in.may_retry && !in.cancelled_by_user;

  simdjson::dom::parser parser;
  result_line r;
  auto sort_file = [&](const std::filesystem::path& file) {
    io::line_reader reader(file);
    std::string_view line;
    while (reader.next(line)) {
      if (!parse_result(parser, line, r)) continue;
      auto it = fates.find(r.custom_id);
      if (it == fates.end() || it->second != fate::pending) continue;  // not ours, or seen
      if (r.status >= 200 && r.status < 300 && r.error_code.empty()) {
        it->second = fate::succeeded;
        results.line(line);
        out.usage[r.model] += r.usage;
      } else if (retries && is_retryable_failure(r.status, r.error_code)) {
        it->second = fate::retry;
      } else {
        it->second = fate::failed;
        if (in.cancelled_by_user && r.error_code == "batch_cancelled")
          errors.line(synthesized_error(r.custom_id, "cancelled", "The job was cancelled before this request ran."));
        else
          errors.line(line);
      }
    }
  };
  if (in.output_file) sort_file(*in.output_file);
  if (in.error_file) sort_file(*in.error_file);

  // Requests in neither file did not run.
  for (const auto& id : order) {
    auto& f = fates[id];
    if (f != fate::pending) continue;
    if (in.batch_status == "failed") {
      f = fate::failed;
      errors.line(synthesized_error(id, "batch_failed", "The batch failed: " + in.batch_error));
    } else if (in.cancelled_by_user) {
      f = fate::failed;
      errors.line(synthesized_error(id, "cancelled", "The job was cancelled before this request ran."));
    } else if (retries) {
      f = fate::retry;
    } else {
      f = fate::failed;
      errors.line(synthesized_error(id, "not_run",
                                    in.unfetchable.empty()
                                        ? "The request did not run and no attempts are left."
                                        : "The batch's results could not be fetched (" + in.unfetchable +
                                              ") and no attempts are left."));
    }
  }
  if (std::any_of(fates.begin(), fates.end(), [](const auto& f) { return f.second == fate::retry; })) {
    out.retry_input = prefix.string() + ".retry.jsonl";
    out.retry_ids = prefix.string() + ".retry.ids";
    io::atomic_file retry(out.retry_input), retry_ids(out.retry_ids);
    std::unordered_map<std::string, bool> written;
    for_each_request(in, [&](std::string_view id, std::string_view line) {
      auto it = fates.find(std::string(id));
      if (it == fates.end() || it->second != fate::retry || !written.emplace(id, true).second) return;
      retry.line(line);
      retry_ids.line(id);
    });
    // Asked, to be sent again, but its line is gone from the input: an error, not a loss.
    for (const auto& id : order) {
      auto& f = fates[id];
      if (f != fate::retry || written.count(id)) continue;
      f = fate::failed;
      ++out.requests_lost;
      errors.line(synthesized_error(id, result_missing_code,
                                    "The request's line could no longer be read from the job's input, so it "
                                    "could not be sent again."));
    }
    if (written.empty()) {
      out.retry_input.clear();
      out.retry_ids.clear();
    } else {
      retry.commit();
      retry_ids.commit();
    }
  }
  // Counted in inputs: a packed embedding request stands for several.
  for (const auto& [id, f] : fates) {
    std::int64_t first = 0, count = 1;
    if (!in.packed_ids || !jobfiles::parse_pack_id(id, first, count)) count = 1;
    if (f == fate::succeeded) {
      out.succeeded += count;
      ++out.requests_succeeded;
    } else if (f == fate::failed) {
      out.failed += count;
      ++out.requests_failed;
    } else {
      out.retry += count;
      ++out.requests_retry;
    }
  }
  results.commit();
  errors.commit();
  return out;
}

}  // namespace batchd::jobs
