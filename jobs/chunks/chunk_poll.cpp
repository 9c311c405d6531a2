// chunk_steps: following a batch until it ends, then bringing its results
// home and sorting them (the second half of the chunk's steps).
#include <spdlog/spdlog.h>

#include <filesystem>

#include "jobs/results/chunk_results.hpp"
#include "jobs/chunks/chunk_steps.hpp"
#include "io/atomic_file.hpp"
#include "openai/client.hpp"
#include "openai/error.hpp"
#include "jobs/results/job_report.hpp"
#include "ledger/ledger.hpp"
#include "ledger/reconciliation.hpp"
#include "io/sha256.hpp"

namespace batchd::jobs {
namespace asio = boost::asio;
namespace fs = std::filesystem;
using asio::awaitable;

namespace {

std::string failure_reason(const openai::batch& b) {
  std::string why;
  for (const auto& e : b.errors)
    why += (why.empty() ? "" : "; ") + e.code + (e.line ? " (line " + std::to_string(*e.line) + ")" : "") + ": " +
           e.message;
  return why;
}

}  // namespace

awaitable<void> chunk_steps::poll(const running_job& job, const store::chunk_row& c) {
  const auto watching = ctx_.board.track(*c.batch_id, c.updated_at);
  poll_state st;
  for (;;) {
    auto b = co_await look_at(job, c, st);
    if (st.gone) co_return;
    if (!b) continue;  // not seen this time: looked again after a pause
    record_progress(job, c, *b, st);
    if (!b->is_terminal() && b->status != "cancelling" && job.signal->cancelled() && !st.cancel_refused)
      co_await cancel_at_api(job, c, *b, st);
    if (b->is_terminal()) {
      if (ended(job, c, *b, st)) co_return;
      co_await sleep(job, 5);  // completed, but its files are not named yet
      continue;
    }
    const double delay = poll_delay(ctx_.config.poll(), b->status, st.quiet_polls++, jitter_draw(), ctx_.clk.now(),
                                    static_cast<double>(b->expires_at.value_or(0)));
    co_await sleep(job, delay);
  }
}

awaitable<std::optional<openai::batch>> chunk_steps::look_at(const running_job& job, const store::chunk_row& c,
                                                             poll_state& st) {
  std::optional<openai::batch> b;
  try {
    b = co_await ctx_.board.current(*c.batch_id);
  } catch (const openai::api_error& e) {
    if (e.status() != 404 && !e.retryable()) throw;  // else a 404 just after the create: not shown yet
  }
  if (b) {
    st.first_miss = 0;
    co_return b;
  }
  if (st.first_miss == 0) st.first_miss = ctx_.clk.now();
  if (ctx_.clk.now() - st.first_miss > ctx_.config.api_grace_s) {
    // Not a moment of catching up any more: the batch is gone. Its requests
    // end as errors rather than be sent again and maybe paid twice.
    store::chunk_update u;
    u.batch_status = "failed";
    u.error = "batch " + *c.batch_id + " could not be found at the API";
    move(c, chunk_stage::downloading, u);
    spdlog::error("job {} chunk {}: {}", job.row.name, c.idx, *u.error);
    st.gone = true;
    co_return b;
  }
  co_await sleep(job, backoff_delay({2, 2, 60}, st.quiet_polls++, jitter_draw()));
  co_return b;
}

void chunk_steps::record_progress(const running_job& job, const store::chunk_row& c, const openai::batch& b,
                                  poll_state& st) {
  const auto done = b.counts.completed + b.counts.failed;
  if (done == st.last_done && b.status == st.last_status) return;
  store::chunk_update u;
  u.batch_status = b.status;
  u.req_total = b.counts.total;
  u.req_completed = b.counts.completed;
  u.req_failed = b.counts.failed;
  ctx_.db.update_chunk(c.id, u, ctx_.clk.now());
  ctx_.report(job.row.id);
  if (done != st.last_done) st.quiet_polls = 0;  // progress: look again soon
  st.last_done = done;
  st.last_status = b.status;
}

awaitable<void> chunk_steps::cancel_at_api(const running_job& job, const store::chunk_row& c, openai::batch& b,
                                           poll_state& st) {
  // Partial results still come back: the batch ends as cancelled with an output file.
  try {
    b = co_await ctx_.api.cancel_batch(b.id);
    store::chunk_update cancelling;
    cancelling.batch_status = b.status;
    ctx_.db.update_chunk(c.id, cancelling, ctx_.clk.now());
    spdlog::info("job {} chunk {}: batch {} {}", job.row.name, c.idx, b.id, b.status);
  } catch (const openai::api_error& e) {
    // Refused (say it is finishing already): the batch ends by itself. Unknown: ask again at the next look.
    st.cancel_refused = openai::effect_of(e) == openai::call_effect::refused;
    spdlog::warn("job {} chunk {}: cancelling batch {}: {}; {}", job.row.name, c.idx, b.id, e.what(),
                 st.cancel_refused ? "it ends by itself" : "trying again");
  }
}

bool chunk_steps::ended(const running_job& job, const store::chunk_row& c, const openai::batch& b, poll_state& st) {
  const auto& cfg = ctx_.config;
  store::chunk_update u;
  u.batch_status = b.status;
  u.req_total = b.counts.total;
  u.req_completed = b.counts.completed;
  u.req_failed = b.counts.failed;
  if (b.status == "failed" && !b.errors.empty() && b.errors[0].code == "token_limit_exceeded") {
    ctx_.gate.learn(job.row.model.value_or(""), b.errors[0].message);
    spdlog::warn("job {} chunk {}: batch {} refused: enqueued token limit; trying again later", job.row.name, c.idx,
                 b.id);
    u.not_before = ctx_.clk.now() + cfg.token_limit_retry_s;
    move(c, chunk_stage::uploaded, u);
    return true;
  }
  // Completed with requests done but no output file yet: give it a moment.
  if (b.status == "completed" && !b.output_file_id && !b.error_file_id && b.counts.completed > 0) {
    if (st.null_output_since == 0) st.null_output_since = ctx_.clk.now();
    if (ctx_.clk.now() - st.null_output_since < cfg.api_grace_s) return false;
  }
  if (b.output_file_id) u.output_file_id = *b.output_file_id;
  if (b.error_file_id) u.error_file_id = *b.error_file_id;
  if (b.usage) {  // compared with the lines' bookings at the merge
    u.api_input_tokens = b.usage->input_tokens;
    u.api_cached_tokens = b.usage->cached_tokens;
    u.api_output_tokens = b.usage->output_tokens;
  }
  if (b.status == "failed") u.error = failure_reason(b);
  spdlog::info("job {} chunk {}: batch {} {} ({} done, {} failed)", job.row.name, c.idx, b.id, b.status,
               b.counts.completed, b.counts.failed);
  move(c, chunk_stage::downloading, u);
  return true;
}

awaitable<void> chunk_steps::download_and_sort(const running_job& job, const store::chunk_row& c) {
  const auto prefix = attempt_prefix(ctx_.dirs, job.row, c);
  const auto make_folder = [prefix] { io::create_directories_durably(prefix.parent_path()); };
  co_await ctx_.pool.run(make_folder);
  auto in = sort_input(job, c);
  in.batch_status = c.batch_status.value_or("failed");
  in.batch_error = c.error.value_or("");
  in.cancelled_by_user = job.signal->cancelled();
  in.may_retry = c.attempt < ctx_.config.max_attempts;
  if (c.output_file_id) in.output_file = prefix.string() + ".output.jsonl";
  if (c.error_file_id) in.error_file = prefix.string() + ".error.jsonl";
  if (!co_await download(job, c, in)) {
    co_await sleep(job, backoff_delay({5, 2, 120}, 0, jitter_draw()));
    co_return;
  }
  const auto sort = [c, in, prefix] {
    check_unchanged(c);  // the lines to send again come from it
    sorted_attempt r;
    r.out = sort_chunk_results(in, prefix);
    if (!r.out.retry_input.empty()) {
      r.retry_sha256 = io::file_sha256(r.out.retry_input);
      r.retry_bytes = static_cast<std::int64_t>(fs::file_size(r.out.retry_input));
    }
    return r;
  };
  const auto sorted = co_await ctx_.pool.run(sort);
  ctx_.crash_point("mid_merge");
  merge(job, c, sorted);
  ctx_.report(job.row.id);
  if (ctx_.config.delete_remote_files) co_await delete_remote_files(job, c);
}

awaitable<bool> chunk_steps::download(const running_job& job, const store::chunk_row& c, chunk_outcome_input& in) {
  // A result file that still answers 404 once the grace has passed since the
  // batch ended is gone (expired, or deleted elsewhere), not late: its
  // requests are sorted as not come back, so they are sent again while
  // attempts are left, rather than the download being tried forever.
  const bool past_grace = ctx_.clk.now() - c.updated_at > ctx_.config.api_grace_s;
  for (auto* file : {&in.output_file, &in.error_file}) {
    if (!*file) continue;
    const auto& id = file == &in.output_file ? *c.output_file_id : *c.error_file_id;
    std::optional<openai::api_error> failed;
    try {
      co_await ctx_.api.download_file(id, **file);
      if (file == &in.output_file) ctx_.crash_point("mid_download");  // one file down, the other not
    } catch (const openai::api_error& e) {
      failed = e;
    }
    if (!failed) continue;
    if (!failed->retryable() && failed->status() != 404) throw *failed;
    if (failed->status() != 404 || !past_grace) {
      spdlog::warn("job {} chunk {}: download: {}; trying again", job.row.name, c.idx, failed->what());
      co_return false;
    }
    in.unfetchable += (in.unfetchable.empty() ? "file " : ", file ") + id + " answered 404 for longer than pipeline.api_grace_s";
    spdlog::warn("job {} chunk {}: file {} is gone; its requests are taken as not come back", job.row.name, c.idx, id);
    file->reset();
  }
  co_return true;
}

void chunk_steps::merge(const running_job& job, const store::chunk_row& c, const sorted_attempt& sorted) {
  const auto& out = sorted.out;
  const auto prices = ctx_.prices();
  const bool usage_mismatch = ledger::usage_differs(job.row, c, ledger::booked_tokens(out.usage));
  ctx_.db.transaction([&] {
    if (!out.retry_input.empty()) {
      store::chunk_row next;
      next.job_id = job.row.id;
      next.idx = c.idx;
      next.attempt = c.attempt + 1;
      next.stage = std::string(name(chunk_stage::assembled));
      next.path = out.retry_input.string();
      next.ids_path = out.retry_ids.string();
      next.sha256 = sorted.retry_sha256;
      next.requests = out.requests_retry;
      next.bytes = sorted.retry_bytes;
      next.est_tokens = (next.bytes + 3) / 4;
      ctx_.db.insert_chunk(next, ctx_.clk.now());
    }
    ctx_.db.add_job_counts(job.row.id, out.succeeded, out.failed);
    // Booked with the merge, in one transaction: a merge redone after a
    // crash books once (and the ledger's UNIQUE (chunk, model) says so too).
    for (const auto& e : ledger::bookings_for(job.row, c, out.usage, *prices)) ctx_.db.book(e, ctx_.clk.now());
    ctx_.crash_point("mid_booking");
    store::chunk_update u;
    u.merged_succeeded = out.requests_succeeded;
    u.merged_failed = out.requests_failed;
    u.merged_retry = out.requests_retry;
    u.merged_lost = out.requests_lost;
    u.usage_mismatch = usage_mismatch ? 1 : 0;
    move(c, chunk_stage::merged, u);
    ctx_.db.add_event(job.row.id, c.id,
                      "attempt " + std::to_string(c.attempt) + ": " + std::to_string(out.succeeded) + " succeeded, " +
                          std::to_string(out.failed) + " failed, " + std::to_string(out.retry) + " to retry",
                      ctx_.clk.now());
  });
  spdlog::info("job {} chunk {} attempt {}: {} succeeded, {} failed, {} to retry", job.row.name, c.idx, c.attempt,
               out.succeeded, out.failed, out.retry);
}

awaitable<void> chunk_steps::delete_remote_files(const running_job& job, const store::chunk_row& c) {
  // Housekeeping only: a failure here costs storage, not results.
  for (const auto& id : {c.file_id, c.output_file_id, c.error_file_id}) {
    if (!id) continue;
    try {
      co_await ctx_.api.delete_file(*id);
    } catch (const openai::api_error& e) {
      spdlog::info("job {} chunk {}: could not delete {}: {}", job.row.name, c.idx, *id, e.what());
    }
  }
}

}  // namespace batchd::jobs
