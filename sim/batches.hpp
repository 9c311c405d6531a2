#pragma once
// Batches and their lifecycle on the simulated clock:
//   validating → in_progress → finalizing → completed
//   validating → failed;  in_progress → expired (at expires_at)
//   validating | in_progress | finalizing → cancelling → cancelled
// A batch moves only when advance() looks at it (on every API access and on
// a periodic tick), jumping through every step whose time has come, with
// each timestamp set to when that step was due rather than when it was seen.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>

#include "sim/processor.hpp"
#include <optional>
#include <string>
#include <vector>

#include "sim/batch_validator.hpp"

namespace batchd::sim {

class file_store;
class fault_engine;
class id_source;
struct sim_stats;

struct lifecycle_timing {  // simulated seconds
  double validating_s = 10;
  double in_progress_base_s = 30;
  double per_request_s = 0.05;
  double finalizing_s = 10;
  double cancelling_s = 20;
};

enum class batch_status {
  validating, failed, in_progress, finalizing, completed, expired, cancelling, cancelled
};
const char* to_string(batch_status s);
bool is_terminal(batch_status s);

// What happens to one input line when it runs.
enum class line_fate : std::uint8_t { ok, retryable_error, final_error };

struct batch {
  std::string id, endpoint, input_file_id, completion_window, model;
  nlohmann::json metadata;  // object or null
  batch_status status = batch_status::validating;
  std::int64_t created_at = 0, expires_at = 0;
  std::optional<std::int64_t> in_progress_at, finalizing_at, completed_at, failed_at,
      expired_at, cancelling_at, cancelled_at;
  std::vector<batch_error> errors;
  std::optional<std::string> output_file_id, error_file_id;
  std::int64_t total = 0, completed = 0, failed = 0;
  std::int64_t input_tokens = 0, cached_tokens = 0, output_tokens = 0, reasoning_tokens = 0;
  std::uint64_t seq = 0;
  double visible_at = 0;

  // The plan, fixed at creation (simulated unix seconds).
  double validate_until = 0, run_until = 0, finalize_until = 0, cancel_until = 0;
  bool will_expire = false, token_limit = false, fail_all = false, output_gone = false;
  std::int64_t usage_extra_input_tokens = 0;  // reported in usage beyond what the lines used
  bool usage_absent = false;                  // no usage at all, as before 2025-09-07
  std::uint64_t seed = 0;
  // Filled by validation.
  std::vector<input_line> lines;
  std::vector<std::uint32_t> order;  // the order lines run in (a seeded shuffle)
  std::vector<line_fate> fates;      // by line index
  std::int64_t enqueued_tokens = 0;
  std::size_t ran = 0;  // lines of `order` already run
};

void to_json(nlohmann::json& j, const batch& b);

struct batch_env {
  file_store& files;
  fault_engine& faults;
  id_source& ids;
  sim_stats& stats;
  lifecycle_timing timing;
};

class batch_registry {
 public:
  explicit batch_registry(batch_env env) : env_(env) {}

  batch& create(std::string endpoint, std::string input_file_id, nlohmann::json metadata,
                double now);
  batch* find(const std::string& id);
  // Moves `b` through every step due by `now`.
  void advance(batch& b, double now);
  void advance_all(double now);
  // Starts cancelling; false if the batch is already terminal.
  bool cancel(batch& b, double now);
  std::vector<batch*> newest_first();

 private:
  void validate(batch& b);
  void run_until(batch& b, double t);
  void write_results(batch& b, const char* unrun_code, const char* unrun_message);
  // Line `i` of `b` run as its fate says (done at `done_at`).
  api_result run_line(const batch& b, std::size_t i, const nlohmann::json& request, std::int64_t done_at) const;
  // A successful line's usage into the batch's and the stats' totals.
  void count_usage(batch& b, const api_result& r);
  // Stores a result file of `lines` lines as a batch_output file (or drops an empty one).
  void publish_file(const batch& b, const std::filesystem::path& p, std::int64_t lines, const char* suffix,
                    std::optional<std::string>& id, bool gone, std::int64_t done_at);
  std::int64_t enqueued_tokens(const std::string& model) const;

  batch_env env_;
  std::map<std::string, batch> batches_;
  std::uint64_t next_seq_ = 0;
};

}  // namespace batchd::sim
