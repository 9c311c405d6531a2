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

// Chat and embeddings say prompt/completion tokens; the Responses API and
// image generation say input/output. The parts the API counts apart are
// inside their totals: cached and cache-write tokens and image tokens in the
// input, reasoning tokens in the output (API-FACTS §5).
ledger::token_usage read_usage(simdjson::dom::element body) {
  simdjson::dom::element usage;
  if (body["usage"].get(usage) || !usage.is_object()) {
    ledger::token_usage u;
    u.requests = 1;
    u.without_usage = 1;
    return u;
  }
  const auto first = [&](std::initializer_list<const char*> paths) {
    std::int64_t n = 0;
    for (const auto* p : paths)
      if (!usage.at_pointer(p).get(n)) return n;
    return std::int64_t{0};
  };
  ledger::tokens t;
  t.prompt = first({"/prompt_tokens", "/input_tokens"});
  t.cached = first({"/prompt_tokens_details/cached_tokens", "/input_tokens_details/cached_tokens"});
  t.cache_write = first({"/prompt_tokens_details/cache_write_tokens", "/input_tokens_details/cache_write_tokens"});
  t.image = first({"/prompt_tokens_details/image_tokens", "/input_tokens_details/image_tokens"});
  t.completion = first({"/completion_tokens", "/output_tokens"});
  t.reasoning = first({"/completion_tokens_details/reasoning_tokens", "/output_tokens_details/reasoning_tokens"});
  return ledger::token_usage::of_line(t);
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

namespace {

// One chunk attempt's sorting, phase by phase: every asked id starts
// pending; the output and error files settle what came back; what did not
// come back is failed or to be retried; the retry file is written from the
// chunk's own lines; the outcome is counted in inputs.
class result_sorter {
 public:
  result_sorter(const chunk_outcome_input& in, const std::filesystem::path& prefix)
      : in_(in), prefix_(prefix.string()), results_(prefix_ + ".results.jsonl"), errors_(prefix_ + ".errors.jsonl"),
        retries_(in.may_retry && !in.cancelled_by_user) {
    out_.results = prefix_ + ".results.jsonl";
    out_.errors = prefix_ + ".errors.jsonl";
    for_each_asked(in_, [&](std::string_view id) {
      if (fates_.emplace(id, fate::pending).second) order_.emplace_back(id);
    });
  }

  chunk_outcome run() {
    if (in_.output_file) sort_file(*in_.output_file);
    if (in_.error_file) sort_file(*in_.error_file);
    settle_not_come_back();
    if (std::any_of(fates_.begin(), fates_.end(), [](const auto& f) { return f.second == fate::retry; }))
      write_retries();
    count();
    results_.commit();
    errors_.commit();
    return std::move(out_);
  }

 private:
  void sort_file(const std::filesystem::path& file) {
    io::line_reader reader(file);
    std::string_view line;
    while (reader.next(line)) {
      if (!parse_result(parser_, line, r_)) continue;
      auto it = fates_.find(r_.custom_id);
      if (it == fates_.end() || it->second != fate::pending) continue;  // not ours, or seen
      if (r_.status >= 200 && r_.status < 300 && r_.error_code.empty()) {
        it->second = fate::succeeded;
        results_.line(line);
        out_.usage[r_.model] += r_.usage;
      } else if (retries_ && is_retryable_failure(r_.status, r_.error_code)) {
        it->second = fate::retry;
      } else {
        it->second = fate::failed;
        if (in_.cancelled_by_user && r_.error_code == "batch_cancelled")
          errors_.line(synthesized_error(r_.custom_id, "cancelled", "The job was cancelled before this request ran."));
        else
          errors_.line(line);
      }
    }
  }

  // Requests in neither file did not run.
  void settle_not_come_back() {
    for (const auto& id : order_) {
      auto& f = fates_[id];
      if (f != fate::pending) continue;
      if (in_.batch_status == "failed") {
        f = fate::failed;
        errors_.line(synthesized_error(id, "batch_failed", "The batch failed: " + in_.batch_error));
      } else if (in_.cancelled_by_user) {
        f = fate::failed;
        errors_.line(synthesized_error(id, "cancelled", "The job was cancelled before this request ran."));
      } else if (retries_) {
        f = fate::retry;
      } else {
        f = fate::failed;
        errors_.line(synthesized_error(id, "not_run",
                                       in_.unfetchable.empty()
                                           ? "The request did not run and no attempts are left."
                                           : "The batch's results could not be fetched (" + in_.unfetchable +
                                                 ") and no attempts are left."));
      }
    }
  }

  void write_retries() {
    out_.retry_input = prefix_ + ".retry.jsonl";
    out_.retry_ids = prefix_ + ".retry.ids";
    io::atomic_file retry(out_.retry_input), retry_ids(out_.retry_ids);
    std::unordered_map<std::string, bool> written;
    for_each_request(in_, [&](std::string_view id, std::string_view line) {
      auto it = fates_.find(std::string(id));
      if (it == fates_.end() || it->second != fate::retry || !written.emplace(id, true).second) return;
      retry.line(line);
      retry_ids.line(id);
    });
    // Asked, to be sent again, but its line is gone from the input: an error, not a loss.
    for (const auto& id : order_) {
      auto& f = fates_[id];
      if (f != fate::retry || written.count(id)) continue;
      f = fate::failed;
      ++out_.requests_lost;
      errors_.line(synthesized_error(id, result_missing_code,
                                     "The request's line could no longer be read from the job's input, so it "
                                     "could not be sent again."));
    }
    if (written.empty()) {
      out_.retry_input.clear();
      out_.retry_ids.clear();
    } else {
      retry.commit();
      retry_ids.commit();
    }
  }

  // Counted in inputs: a packed embedding request stands for several.
  void count() {
    for (const auto& [id, f] : fates_) {
      std::int64_t first = 0, n = 1;
      if (!in_.packed_ids || !jobfiles::parse_pack_id(id, first, n)) n = 1;
      if (f == fate::succeeded) {
        out_.succeeded += n;
        ++out_.requests_succeeded;
      } else if (f == fate::failed) {
        out_.failed += n;
        ++out_.requests_failed;
      } else {
        out_.retry += n;
        ++out_.requests_retry;
      }
    }
  }

  const chunk_outcome_input& in_;
  const std::string prefix_;
  io::atomic_file results_, errors_;
  const bool retries_;
  chunk_outcome out_;
  std::unordered_map<std::string, fate> fates_;
  std::vector<std::string> order_;
  simdjson::dom::parser parser_;
  result_line r_;
};

}  // namespace

chunk_outcome sort_chunk_results(const chunk_outcome_input& in, const std::filesystem::path& prefix) {
  return result_sorter(in, prefix).run();
}

}  // namespace batchd::jobs
