#pragma once
// The OpenAI Files and Batches API, as coroutines returning typed results.
//
// Errors: every call throws api_error when it finally fails. Retryable
// failures (api_error::retryable) are retried with capped exponential
// backoff and full jitter, honouring retry-after-ms and retry-after — except
// the calls that create something (upload_file, create_batch), which are
// retried only when the caller passes retry_safe: a lost response may hide a
// create that happened, and only the caller can look for it first.
// The API key goes into the Authorization header and nowhere else: not into
// logs, not into error messages.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "openai/client_config.hpp"
#include "openai/retry.hpp"
#include "openai/types.hpp"

namespace batchd::openai {

enum class retry_create { no, yes };

// The filename upload_file sends for `name` (quotes, CR and LF would break the
// multipart header, so each becomes '_'): what a file list later shows.
std::string sent_filename(std::string name);

// Counters of the calls made: by route ("GET /v1/batches/{id}") and outcome
// ("2xx", "4xx", "5xx", "network"), bytes each way, and when the API last
// answered (any HTTP status counts as reachable).
struct call_stats {
  std::map<std::pair<std::string, std::string>, std::uint64_t> calls;
  std::uint64_t retries = 0, bytes_up = 0, bytes_down = 0;
  std::optional<std::chrono::system_clock::time_point> last_answer, last_network_error;
  std::string last_error;  // the last failure's message (never holds the key)
};

struct byte_range {
  std::uint64_t offset = 0, length = 0;
};

// Every coroutine takes its arguments by value: it may run after the
// caller's temporaries are gone.
class client {
 public:
  // Throws api_error (config) for an unusable base URL (plain http:// off loopback).
  client(boost::asio::any_io_executor ex, client_config config);
  ~client();

  // Uploads `path` (or `range` of it) as multipart/form-data under
  // `filename`, streamed from disk.
  boost::asio::awaitable<file_object> upload_file(std::filesystem::path path,
                                                  std::string filename,
                                                  std::string purpose,
                                                  retry_create retry = retry_create::no,
                                                  std::optional<byte_range> range = std::nullopt);
  boost::asio::awaitable<file_object> retrieve_file(std::string id);
  // Every file (all pages), newest first; `purpose` filters when set.
  boost::asio::awaitable<std::vector<file_object>> list_files(std::optional<std::string> purpose);
  // Streams the content into `dest` through `dest.part`, checks its length
  // (against `expected_bytes` when given), then renames. Returns the size.
  boost::asio::awaitable<std::uint64_t> download_file(std::string id,
                                                      std::filesystem::path dest,
                                                      std::optional<std::uint64_t> expected_bytes = {});
  boost::asio::awaitable<void> delete_file(std::string id);

  boost::asio::awaitable<batch> create_batch(create_batch_request req,
                                             retry_create retry = retry_create::no);
  boost::asio::awaitable<batch> retrieve_batch(std::string id);
  // Batches, newest first, page by page until `keep_going` says stop or none are left.
  boost::asio::awaitable<std::vector<batch>> list_batches(
      std::function<bool(const batch&)> keep_going = {});
  boost::asio::awaitable<batch> cancel_batch(std::string id);

  // POST /v1/embeddings, synchronous: the response body as the API sent it.
  // Retried like a read: it creates nothing, and a query whose reply was
  // lost is asked again rather than left unanswered.
  boost::asio::awaitable<nlohmann::json> create_embeddings(nlohmann::json body);

  // What every call did (retries included), for /metrics and /v1/health.
  const call_stats& stats() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace batchd::openai
