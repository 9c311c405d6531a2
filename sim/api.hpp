#pragma once
// batchd-sim's service: the /v1 routes of the Files and Batches APIs plus the
// synchronous embeddings and chat routes, and the /admin routes that tests
// use to inject faults and read what was served.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "sim/batches.hpp"
#include "sim/faults.hpp"
#include "sim/file_store.hpp"
#include "sim/http_types.hpp"
#include "sim/ids.hpp"
#include "sim/sim_clock.hpp"
#include "sim/stats.hpp"

namespace batchd::sim {

struct sim_options {
  std::filesystem::path data_dir;
  std::string api_key;
  double time_scale = 1;
  std::uint64_t seed = 1;
  lifecycle_timing timing;
  fault_settings faults;
};

class api {
 public:
  explicit api(const sim_options& options);

  // For a file upload (POST /v1/files with a multipart body), a sink that
  // parses the body as it arrives; nullptr for every other request.
  std::unique_ptr<upload_sink> open_upload(const http_request& req);
  // What the fault injector does to this request on the wire (/v1 only).
  transport_fault transport_fault_for(const http_request& req);
  // Real bytes a second for file contents (download_bytes_per_s); 0: unlimited.
  std::int64_t download_rate() const { return faults_.settings().download_bytes_per_s; }
  // Whether an object made at `created_at` shows in lists yet (list_lag_s).
  bool listed_by(double created_at, double now) const;
  // For a create that has just committed: lose its reply? (and after how long, in real ms)
  std::optional<std::int64_t> lost_reply_for(const http_request& req, int status);
  // Answers a request; never throws.
  http_response handle(const http_request& req, upload_sink* upload);
  // The response for an injected HTTP error status (429, 5xx).
  http_response injected_error(int status);
  // 429 insufficient_quota, as an account out of credit gets it.
  static http_response quota_refusal();
  // 503 "Slow Down", with the configured delay.
  http_response slow_down() const;
  // Records a /v1 call for /admin/stats; `outcome` is the status or "dropped"/"truncated".
  void count_call(const http_request& req, const std::string& outcome);
  // Moves every batch along the clock; called on a timer.
  void tick();

 private:
  http_response dispatch(const http_request& req, upload_sink* upload);
  http_response admin(const http_request& req);
  void check_auth(const http_request& req) const;

  http_response create_file(upload_sink* upload);
  http_response list_files(const http_request& req);
  const file_object& visible_file(const std::string& id);
  http_response create_batch(const http_request& req);
  http_response list_batches(const http_request& req);
  batch& visible_batch(const std::string& id);
  http_response serve(const std::string& endpoint, const http_request& req);
  void add_retry_after(http_response& r) const;
  // A create's refusal by the fault menu (429, 503 "Slow Down", a drop), or
  // nullopt; either way the attempt goes into `log` with the time.
  std::optional<http_response> refuse_create(std::vector<create_attempt>& log, bool upload);

  sim_options options_;
  sim_clock clock_;
  fault_engine faults_;
  id_source ids_;
  sim_stats stats_;
  file_store files_;
  batch_registry batches_;
};

}  // namespace batchd::sim
