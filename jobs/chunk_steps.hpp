#pragma once
// One chunk attempt's steps — upload, create, poll, download and sort —
// each committing its intent before the call it enables and leaving the
// chunk in its next stage, so that after a crash the same steps find what
// was already done instead of doing it twice.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>

#include "batch_board.hpp"
#include "clock.hpp"
#include "database.hpp"
#include "job_kind.hpp"
#include "job_signal.hpp"
#include "job_transitions.hpp"
#include "pipeline_config.hpp"
#include "pricing.hpp"
#include "spool.hpp"
#include "token_gate.hpp"
#include "worker_pool.hpp"

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
  const clock& clk;
  job_transitions& moves;
  batch_board& board;
  token_gate& gate;
  const pipeline_config& config;                                 // the pipeline's, replaced on SIGHUP
  std::function<std::shared_ptr<const pricing_table>()> prices;  // likewise
  std::function<void(const char*)> crash_point;                  // tests only
  worker_pool& pool;                                             // heavy file work, off the loop
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
  boost::asio::awaitable<void> download_and_sort(const running_job& job, const store::chunk_row& c);
  boost::asio::awaitable<void> sleep(const running_job& job, double seconds);
  // The one way a chunk moves: checked against the stage table, then a
  // guarded write (false if the row was not in its stage any more).
  bool move(const store::chunk_row& c, chunk_stage to, const store::chunk_update& fields = {});
  // Records, durably, that an upload or create of this chunk may have happened by now.
  void mark_unsure(const store::chunk_row& c);
  // Ends a chunk that can go no further (failed, or cancelled before its
  // batch existed); its requests become error lines.
  boost::asio::awaitable<void> end_chunk(const running_job& job, store::chunk_row c, chunk_stage to,
                                         std::string reason);

  step_context ctx_;
  // Chunks whose upload or create intent this process recorded and whose call
  // has not failed in doubt: nothing can exist at the API yet, so there is
  // nothing to look for. After a restart the set is empty and every intent is
  // checked against the API's lists.
  std::set<std::int64_t> nothing_sent_;
};

// A chunk's bytes no longer match the hash taken when it was validated:
// the job fails at once with this reason (no retry can mend it).
struct source_changed : std::runtime_error {
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

// What sorting a chunk attempt's results starts from: the chunk's bytes and
// asked ids, and the job's packing; the caller fills in the batch's outcome.
struct chunk_outcome_input;
chunk_outcome_input sort_input(const running_job& job, const store::chunk_row& c);

// Uniform in [0, 1), for jitter.
double jitter_draw();

}  // namespace batchd::jobs
