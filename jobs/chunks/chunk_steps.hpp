#pragma once
// One chunk attempt's steps — upload, create, poll, download and sort —
// each committing its intent before the call it enables and leaving the
// chunk in its next stage, so that after a crash the same steps find what
// was already done instead of doing it twice.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "jobs/chunks/batch_board.hpp"
#include "io/clock.hpp"
#include "store/database.hpp"
#include "openai/error.hpp"
#include "openai/types.hpp"
#include "jobs/core/job_spec.hpp"
#include "jobs/core/stage.hpp"
#include "jobs/results/chunk_results.hpp"
#include "jobs/core/job_signal.hpp"
#include "jobs/core/pipeline_config.hpp"
#include "ledger/pricing.hpp"
#include "jobs/core/spool.hpp"
#include "jobs/chunks/token_gate.hpp"
#include "io/worker_pool.hpp"

namespace batchd::openai {
class client;
}

namespace batchd::jobs {

// A running job as its steps see it: the row and spec loaded once, and its signal.
struct running_job {
  store::job_row row;
  job_spec spec;
  std::shared_ptr<job_signal> signal;
};

// What the steps share with the pipeline that owns them.
struct step_context {
  boost::asio::any_io_executor ex;
  store::database& db;
  const spool& dirs;
  openai::client& api;
  const io::clock& clk;
  std::function<void(std::int64_t)> report;                      // rewrites the job's job.json
  batch_board& board;
  token_gate& gate;
  const pipeline_config& config;                                 // the pipeline's, replaced on SIGHUP
  std::function<std::shared_ptr<const ledger::pricing_table>()> prices;  // likewise
  std::function<void(const char*)> crash_point;                  // tests only
  io::worker_pool& pool;                                             // heavy file work, off the loop
};

class chunk_steps {
 public:
  explicit chunk_steps(step_context ctx) : ctx_(std::move(ctx)) {}
  // Runs one attempt until its chunk ends (merged, failed or cancelled).
  // Throws what a step cannot handle (I/O, SQLite): the rescuer's business.
  boost::asio::awaitable<void> run_attempt(const running_job& job, std::int64_t chunk_id);

 private:
  boost::asio::awaitable<void> upload(const running_job& job, const store::chunk_row& c);
  boost::asio::awaitable<void> create(const running_job& job, const store::chunk_row& c);
  boost::asio::awaitable<void> poll(const running_job& job, const store::chunk_row& c);
  // What a poll remembers between its looks at one batch.
  struct poll_state {
    int quiet_polls = 0;           // looks since its counts last moved
    double first_miss = 0;         // when it first answered 404 or failed to answer
    std::int64_t last_done = -1;   // completed + failed at the last look
    std::optional<std::string> last_status;
    double null_output_since = 0;  // completed with no file named yet, since
    bool cancel_refused = false;   // the API said no to our cancel: not asked again
    bool gone = false;             // not found past the grace: the chunk moved on
  };
  // The batch now, or nullopt after a pause when it was not seen (gone, past the grace).
  boost::asio::awaitable<std::optional<openai::batch>> look_at(const running_job& job, const store::chunk_row& c,
                                                               poll_state& st);
  void record_progress(const running_job& job, const store::chunk_row& c, const openai::batch& b, poll_state& st);
  boost::asio::awaitable<void> cancel_at_api(const running_job& job, const store::chunk_row& c, openai::batch& b,
                                             poll_state& st);
  // A batch that ended moves its chunk on (true), or is to be looked at again shortly (false).
  bool ended(const running_job& job, const store::chunk_row& c, const openai::batch& b, poll_state& st);
  boost::asio::awaitable<void> download_and_sort(const running_job& job, const store::chunk_row& c);
  // The batch's output and error files into the attempt's folder; false when
  // one could not be fetched this time (a file gone for good is reset in `in`).
  boost::asio::awaitable<bool> download(const running_job& job, const store::chunk_row& c, chunk_outcome_input& in);
  // A sorted attempt: its outcome, and the retry file's hash and size.
  struct sorted_attempt {
    chunk_outcome out;
    std::string retry_sha256;
    std::int64_t retry_bytes = 0;
  };
  // The merge, in one transaction: the next attempt, the counts, the bookings, the chunk merged.
  void merge(const running_job& job, const store::chunk_row& c, const sorted_attempt& sorted);
  boost::asio::awaitable<void> delete_remote_files(const running_job& job, const store::chunk_row& c);
  boost::asio::awaitable<void> sleep(const running_job& job, double seconds);
  // The one way a chunk moves: checked against the stage table, then a
  // guarded write (false if the row was not in its stage any more). A move
  // into uploading or creating starts with nothing in doubt.
  bool move(const store::chunk_row& c, chunk_stage to, store::chunk_update fields = {});
  // Records, durably, that an upload or create of this chunk may have happened by now.
  void mark_unsure(const store::chunk_row& c);

  // One try at the call that makes this stage's object at the API (the
  // chunk's file, its batch), with its three outcomes (openai::call_effect):
  //   - a call before it whose outcome is unknown is looked for first: found,
  //     it is adopted; not listed yet within the grace, nothing is sent
  //     (the caller waits a little and looks again);
  //   - else, with the chunk marked unsure durably while the call is out,
  //     `make` runs: done gives the id; refused gives the error (nothing was
  //     made: the caller clears the mark); unknown keeps the mark, from the
  //     call's end, and its Retry-After as not_before.
  // Unless `may_make` (a cancelled job), nothing new is made: `declined`.
  using look_fn = std::function<boost::asio::awaitable<std::optional<std::string>>()>;
  using make_fn = std::function<boost::asio::awaitable<std::string>()>;
  struct try_result {
    std::optional<std::string> id;
    std::optional<openai::api_error> refusal;
    bool declined = false;
  };
  boost::asio::awaitable<try_result> try_once(const running_job& job, const store::chunk_row& c, const char* what,
                                              const look_fn& look, const make_fn& make, bool may_make = true);
  // After the API refused this stage's call: a rate limit (or `again`) waits
  // as asked, durably (not_before, the unsure mark cleared); quota holds the
  // job (throws quota_exhausted); anything else ends the chunk failed.
  boost::asio::awaitable<void> after_refusal(const running_job& job, const store::chunk_row& c, const char* what,
                                             const openai::api_error& e, bool again);
  // Ends a chunk that can go no further (failed, or cancelled before its
  // batch existed); its requests become error lines.
  boost::asio::awaitable<void> end_chunk(const running_job& job, store::chunk_row c, chunk_stage to,
                                         std::string reason);

  step_context ctx_;
  // Refusals in a row, by chunk: the backoff when a refusal names no delay.
  std::map<std::int64_t, int> refusals_;
};

// A chunk's bytes no longer match the hash taken when it was validated:
// the job fails at once with this reason (no retry can mend it).
struct source_changed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The account is out of quota or credit (a 429 that waiting does not mend):
// the job is held with this reason until resumed or an hourly look.
struct quota_exhausted : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws source_changed unless the chunk's bytes still hash as validated.
void check_unchanged(const store::chunk_row& c);

// Since when the API may hold an object this chunk's stage made without our
// knowing: the end of its last unsure call (unsure_at, durable), else its
// entering the stage (a crash may have come right after the call).
double unsure_since(const store::chunk_row& c);
// Whether, with no sign of it in the lists, what an upload or create may
// have made can be taken for never made: only once `grace_s` has passed
// since unsure_since(c). Pure, and the same after a restart: both times are
// in the row.
bool may_send_again(const store::chunk_row& c, double now, double grace_s);

// How long to wait before looking again for what a call of unknown outcome
// may have made, `elapsed` seconds after it: 2 s at first, then half the
// time elapsed (looks grow apart as it grows less likely to appear), at
// most an eighth of the grace. Pure.
double look_delay(double elapsed, double grace_s);

// How long a refusal asks the chunk to wait: the server's Retry-After, at
// most `cap_s`, stretched by up to a tenth for jitter (`unit` in [0, 1));
// without one, backoff by refusals in a row (1 for the first). Pure.
double refusal_delay(std::optional<double> retry_after_s, int refusals_in_a_row, double cap_s, double unit);

// What sorting a chunk attempt's results starts from: the chunk's bytes and
// asked ids, and the job's packing; the caller fills in the batch's outcome.
chunk_outcome_input sort_input(const running_job& job, const store::chunk_row& c);

// Uniform in [0, 1), for jitter.
double jitter_draw();

}  // namespace batchd::jobs
