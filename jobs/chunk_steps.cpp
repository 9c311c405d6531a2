#include "chunk_steps.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <random>

#include "chunk_results.hpp"
#include "client.hpp"
#include "error.hpp"
#include "atomic_file.hpp"
#include "job_report.hpp"
#include "sha256.hpp"

namespace batchd::jobs {
namespace asio = boost::asio;
using asio::awaitable;

namespace {

std::string str(chunk_stage s) { return std::string(name(s)); }

// The upload's filename names job, chunk, attempt and content, so a restart
// can find an upload that already happened. It is exactly the name the
// client sends (openai::sent_filename), or the lookup would miss it.
std::string upload_name(const store::job_row& job, const store::chunk_row& c) {
  std::string plain = job.name;  // a server may normalise anything else (and the job id keeps it unique)
  for (auto& ch : plain)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '_' && ch != '-') ch = '_';
  return openai::sent_filename("batchd-" + plain + "-" + std::to_string(job.id) + "-c" + std::to_string(c.idx) +
                               "-a" + std::to_string(c.attempt) + "-" + c.sha256.substr(0, 12) + ".jsonl");
}


// The batch's metadata names job, chunk, attempt and try, so a restart can
// find a batch that was already created; the user's own keys come first
// (batchd's are reserved).
std::map<std::string, std::string> batch_metadata(const running_job& job, const store::chunk_row& c) {
  auto md = job.spec.metadata;
  md["batchd_job"] = job.row.name;
  md["batchd_job_id"] = std::to_string(job.row.id);
  md["batchd_chunk"] = std::to_string(c.idx);
  md["batchd_attempt"] = std::to_string(c.attempt);
  md["batchd_try"] = std::to_string(c.creates);
  return md;
}

}  // namespace

void check_unchanged(const store::chunk_row& c) {
  const auto now = file_sha256(c.path, static_cast<std::uint64_t>(c.offset), static_cast<std::uint64_t>(c.bytes));
  if (now != c.sha256)
    throw source_changed("the job's input changed after it was validated (chunk " + std::to_string(c.idx) +
                         ", attempt " + std::to_string(c.attempt) +
                         ": its bytes no longer match the SHA-256 taken then); nothing more of it is sent. "
                         "Drop the file again as a new job");
}

double unsure_since(const store::chunk_row& c) { return std::max(c.updated_at, c.unsure_at.value_or(0)); }

bool may_send_again(const store::chunk_row& c, double now, double grace_s) { return now - unsure_since(c) >= grace_s; }

chunk_outcome_input sort_input(const running_job& job, const store::chunk_row& c) {
  chunk_outcome_input in;
  in.chunk = c.path;
  in.chunk_offset = static_cast<std::uint64_t>(c.offset);
  in.chunk_length = static_cast<std::uint64_t>(c.bytes);
  in.ids_file = c.ids_path;
  in.packed_ids = job.spec.packs;
  return in;
}

double jitter_draw() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0, 1)(rng);
}

awaitable<void> chunk_steps::sleep(const running_job& job, double seconds) {
  co_await job.signal->sleep(ctx_.clk.real(seconds));
}

void chunk_steps::mark_unsure(const store::chunk_row& c) {
  store::chunk_update u;
  u.unsure_at = ctx_.clk.now();
  ctx_.db.update_chunk(c.id, u, ctx_.clk.now());
}

bool chunk_steps::move(const store::chunk_row& c, chunk_stage to, const store::chunk_update& fields) {
  const auto from = *parse_chunk_stage(c.stage);
  if (!can_move(from, to))
    throw std::logic_error("chunk " + std::to_string(c.id) + ": no move from " + c.stage + " to " + str(to));
  if (!ctx_.db.move_chunk(c.id, c.stage, str(to), fields, ctx_.clk.now())) return false;
  ctx_.db.clear_step_error(c.job_id);  // progress: failures in a row start again
  return true;
}

awaitable<void> chunk_steps::end_chunk(const running_job& job, store::chunk_row c, chunk_stage to,
                                       std::string reason) {
  // Its requests still end somewhere: each becomes an error line with the reason.
  auto in = sort_input(job, c);
  in.batch_status = to == chunk_stage::cancelled ? "cancelled" : "failed";
  in.batch_error = reason;
  in.cancelled_by_user = to == chunk_stage::cancelled;
  in.may_retry = false;
  const auto prefix = attempt_prefix(ctx_.dirs, job.row, c);
  const auto sort = [in, prefix] {
    create_directories_durably(prefix.parent_path());
    return sort_chunk_results(in, prefix);
  };
  const auto out = co_await ctx_.pool.run(sort);
  ctx_.db.transaction([&] {
    ctx_.db.add_job_counts(job.row.id, out.succeeded, out.failed);
    store::chunk_update u;
    u.error = reason;
    u.merged_succeeded = out.requests_succeeded;
    u.merged_failed = out.requests_failed;
    u.merged_lost = out.requests_lost;
    move(c, to, u);
  });
  if (to == chunk_stage::cancelled)
    spdlog::info("job {} chunk {}: cancelled before its batch was created", job.row.name, c.idx);
  else
    spdlog::error("job {} chunk {}: {}; its {} requests are errors", job.row.name, c.idx, reason, out.failed);
  ctx_.moves.report(job.row.id);
}

awaitable<void> chunk_steps::run_attempt(const running_job& job, std::int64_t chunk_id) {
  for (;;) {
    if (job.signal->stopping()) co_return;  // another chunk threw: the job is to be run again
    const auto c = *ctx_.db.chunk(chunk_id);
    const auto stage = *parse_chunk_stage(c.stage);
    if (is_terminal(stage)) co_return;
    // Cancelled before a batch exists: nothing to stop at the API. (`creating`
    // may already have a batch; create() looks for it first.)
    if ((stage == chunk_stage::assembled || stage == chunk_stage::uploading || stage == chunk_stage::uploaded) &&
        job.signal->cancelled()) {
      co_await end_chunk(job, c, chunk_stage::cancelled, "cancelled by the user");
      co_return;
    }
    switch (stage) {
      case chunk_stage::assembled:
        if (move(c, chunk_stage::uploading)) nothing_sent_.insert(c.id);
        break;
      case chunk_stage::uploading:
        co_await upload(job, c);
        break;
      case chunk_stage::uploaded: {
        if (c.not_before > ctx_.clk.now()) co_await sleep(job, c.not_before - ctx_.clk.now());
        // Hold the chunk while the model's enqueued tokens would pass the limit.
        if (ctx_.gate.must_wait(ctx_.db, job.row.model.value_or(""), c.est_tokens)) {
          co_await sleep(job, ctx_.config.poll_initial_s);
          break;
        }
        store::chunk_update u;
        u.creates = c.creates + 1;
        if (move(c, chunk_stage::creating, u)) nothing_sent_.insert(c.id);
        break;
      }
      case chunk_stage::creating:
        co_await create(job, c);
        break;
      case chunk_stage::polling:
        co_await poll(job, c);
        break;
      case chunk_stage::downloading:
        co_await download_and_sort(job, c);
        break;
      default:
        co_return;
    }
  }
}

awaitable<void> chunk_steps::upload(const running_job& job, const store::chunk_row& c) {
  const auto filename = upload_name(job.row, c);
  std::optional<std::string> file_id;
  const bool look_first = nothing_sent_.erase(c.id) == 0;
  bool wait_and_look_again = false;
  bool sent = false;                        // the upload call was made: from then on it may exist
  bool unsure = false;                      // … and its answer was lost
  std::optional<std::string> final_error;  // ends the chunk (not awaited inside a catch)
  try {
    // Before a crash or a lost response, this upload may have happened already.
    if (look_first) {
      for (const auto& f : co_await ctx_.api.list_files(std::string("batch")))
        if (f.filename == filename) file_id = f.id;
      // Lists lag behind creates: uploading again now could upload twice.
      wait_and_look_again = !file_id && !may_send_again(c, ctx_.clk.now(), ctx_.config.api_grace_s);
    }
    if (file_id) {
      spdlog::info("job {} chunk {}: found earlier upload {}", job.row.name, c.idx, *file_id);
    } else if (wait_and_look_again) {
      spdlog::info("job {} chunk {}: no earlier upload listed yet; looking again before uploading", job.row.name,
                   c.idx);
    } else {
      const auto check = [c] { check_unchanged(c); };  // what is sent is what was validated
      co_await ctx_.pool.run(check);
      const openai::byte_range range{static_cast<std::uint64_t>(c.offset), static_cast<std::uint64_t>(c.bytes)};
      mark_unsure(c);  // durable before the call: a crash during it leaves a time to count the grace from
      sent = true;
      file_id = (co_await ctx_.api.upload_file(c.path, filename, "batch", openai::retry_create::no, range)).id;
      ctx_.crash_point("after_upload");
      spdlog::info("job {} chunk {}: uploaded {} ({} requests, {} bytes)", job.row.name, c.idx, *file_id,
                   c.requests, c.bytes);
    }
  } catch (const openai::api_error& e) {
    if (!e.retryable()) {
      final_error = std::string("upload failed: ") + e.what();
    } else {
      unsure = sent;  // a failed list or connect sent nothing: no new wait
      spdlog::warn("job {} chunk {}: upload: {}; will look and try again", job.row.name, c.idx, e.what());
    }
  }
  if (final_error) {
    co_await end_chunk(job, c, chunk_stage::failed, *final_error);
    co_return;
  }
  if (unsure) mark_unsure(c);  // the call's end: the grace counts from now, across restarts
  if (!file_id) {
    co_await sleep(job, wait_and_look_again ? ctx_.config.api_grace_s / 8 : backoff_delay({10, 2, 300}, 0, jitter_draw()));
    co_return;
  }
  store::chunk_update u;
  u.file_id = *file_id;
  move(c, chunk_stage::uploaded, u);
}

awaitable<void> chunk_steps::create(const running_job& job, const store::chunk_row& c) {
  const auto metadata = batch_metadata(job, c);
  const auto& cfg = ctx_.config;
  std::optional<openai::batch> batch;
  const bool look_first = nothing_sent_.erase(c.id) == 0;
  bool wait_and_look_again = false;
  std::optional<std::string> final_error;   // ends the chunk (not awaited inside a catch)
  bool cancelled = false;
  bool sent = false;    // the create call was made: from then on the batch may exist
  bool unsure = false;  // … and its answer was lost
  try {
    // Before a crash or a lost response, this batch may have been created already.
    if (look_first) {
      const double since = c.updated_at - 2 * 86400;
      for (const auto& b :
           co_await ctx_.api.list_batches([&](const openai::batch& b) { return b.created_at >= since; }))
        if (b.metadata == metadata) batch = b;
      // A batch created a moment ago may not be listed yet: creating another
      // would pay twice, so give the API its grace before concluding it is not there.
      wait_and_look_again = !batch && !may_send_again(c, ctx_.clk.now(), cfg.api_grace_s);
    }
    if (batch) {
      spdlog::info("job {} chunk {}: found earlier batch {}", job.row.name, c.idx, batch->id);
    } else if (wait_and_look_again) {
      spdlog::info("job {} chunk {}: no earlier batch listed yet; looking again before creating", job.row.name,
                   c.idx);
    } else if (job.signal->cancelled()) {
      cancelled = true;
    } else {
      openai::create_batch_request req;
      req.input_file_id = *c.file_id;
      req.endpoint = job.row.endpoint.value_or("");
      req.metadata = metadata;
      mark_unsure(c);  // durable before the call: a crash during it leaves a time to count the grace from
      sent = true;
      batch = co_await ctx_.api.create_batch(req);
      ctx_.crash_point("after_create");
      spdlog::info("job {} chunk {}: created batch {}", job.row.name, c.idx, batch->id);
    }
  } catch (const openai::api_error& e) {
    if (e.code() == "token_limit_exceeded") {
      ctx_.gate.learn(job.row.model.value_or(""), e.message());
      store::chunk_update u;
      u.not_before = ctx_.clk.now() + cfg.token_limit_retry_s;
      move(c, chunk_stage::uploaded, u);
      co_return;
    }
    // A fresh upload may be unknown to the batch service for a moment.
    const bool file_not_seen_yet = e.status() == 400 && e.param() == std::optional<std::string>("file_id") &&
                                   ctx_.clk.now() - c.updated_at < cfg.api_grace_s;
    if (!e.retryable() && !file_not_seen_yet) {
      final_error = std::string("creating the batch failed: ") + e.what();  // a 4xx: nothing was created
    } else {
      unsure = sent && (e.status() == 0 || e.status() >= 500);  // no answer, or the server broke after the body
      spdlog::warn("job {} chunk {}: create: {}; will look and try again", job.row.name, c.idx, e.what());
    }
  }
  if (unsure) mark_unsure(c);  // the call's end: the grace counts from now, across restarts
  if (final_error || cancelled) {
    const std::string reason = cancelled ? "cancelled by the user" : *final_error;  // named: see worker_pool.hpp
    co_await end_chunk(job, c, cancelled ? chunk_stage::cancelled : chunk_stage::failed, reason);
    co_return;
  }
  if (!batch) {
    co_await sleep(job, wait_and_look_again ? cfg.api_grace_s / 4 : backoff_delay({5, 2, 120}, 0, jitter_draw()));
    co_return;
  }
  store::chunk_update u;
  u.batch_id = batch->id;
  u.batch_status = batch->status;
  move(c, chunk_stage::polling, u);
}

}  // namespace batchd::jobs
