#include "jobs/chunks/chunk_steps.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <random>

#include "jobs/results/chunk_results.hpp"
#include "openai/client.hpp"
#include "openai/error.hpp"
#include "io/atomic_file.hpp"
#include "jobs/results/job_report.hpp"
#include "io/sha256.hpp"

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
  const auto now = io::file_sha256(c.path, static_cast<std::uint64_t>(c.offset), static_cast<std::uint64_t>(c.bytes));
  if (now != c.sha256)
    throw source_changed("the job's input changed after it was validated (chunk " + std::to_string(c.idx) +
                         ", attempt " + std::to_string(c.attempt) +
                         ": its bytes no longer match the SHA-256 taken then); nothing more of it is sent. "
                         "Drop the file again as a new job");
}

double unsure_since(const store::chunk_row& c) { return std::max(c.updated_at, c.unsure_at.value_or(0)); }

bool may_send_again(const store::chunk_row& c, double now, double grace_s) { return now - unsure_since(c) >= grace_s; }

double look_delay(double elapsed, double grace_s) {
  return std::clamp(elapsed / 2, 2.0, std::max(2.0, grace_s / 8));
}

double refusal_delay(std::optional<double> retry_after_s, int refusals_in_a_row, double cap_s, double unit) {
  if (retry_after_s) return std::min(cap_s, *retry_after_s) * (1 + 0.1 * std::clamp(unit, 0.0, 1.0));
  return std::min(cap_s, backoff_delay({2, 2, cap_s}, std::max(0, refusals_in_a_row - 1), unit));
}

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

bool chunk_steps::move(const store::chunk_row& c, chunk_stage to, store::chunk_update fields) {
  const auto from = *parse_chunk_stage(c.stage);
  if (to == chunk_stage::uploading || to == chunk_stage::creating) fields.clear_unsure = true;  // nothing sent yet
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
    io::create_directories_durably(prefix.parent_path());
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
  ctx_.report(job.row.id);
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
    // A refusal's Retry-After (or a token-limit wait), kept in the row: a restart waits only the rest.
    const bool calls = stage == chunk_stage::uploading || stage == chunk_stage::uploaded || stage == chunk_stage::creating;
    if (calls && c.not_before > ctx_.clk.now() && !job.signal->cancelled()) {
      co_await sleep(job, c.not_before - ctx_.clk.now());
      continue;
    }
    switch (stage) {
      case chunk_stage::assembled:
        move(c, chunk_stage::uploading);
        break;
      case chunk_stage::uploading:
        co_await upload(job, c);
        break;
      case chunk_stage::uploaded: {
        // Hold the chunk while the model's enqueued tokens would pass the limit.
        if (ctx_.gate.must_wait(ctx_.db, job.row.model.value_or(""), c.est_tokens)) {
          co_await sleep(job, ctx_.config.poll_initial_s);
          break;
        }
        store::chunk_update u;
        u.creates = c.creates + 1;
        move(c, chunk_stage::creating, u);
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

awaitable<chunk_steps::try_result> chunk_steps::try_once(const running_job& job, const store::chunk_row& c,
                                                         const char* what, const look_fn& look, const make_fn& make,
                                                         bool may_make) {
  try_result r;
  if (c.unsure_at) {
    // A call before this one may have made it (a crash during it, or its answer lost): look first.
    std::optional<std::string> look_failed;
    try {
      r.id = co_await look();
    } catch (const openai::api_error& e) {
      look_failed = e.what();
    }
    if (look_failed) {
      spdlog::warn("job {} chunk {}: looking for an earlier {}: {}; looking again", job.row.name, c.idx, what,
                   *look_failed);
      co_return r;
    }
    if (r.id) {
      spdlog::info("job {} chunk {}: found the earlier {} {}", job.row.name, c.idx, what, *r.id);
      co_return r;
    }
    // Lists lag behind creates: making it again now could make it twice.
    if (!may_send_again(c, ctx_.clk.now(), ctx_.config.api_grace_s)) {
      spdlog::info("job {} chunk {}: no earlier {} listed yet; looking again", job.row.name, c.idx, what);
      co_return r;
    }
  }
  if (!may_make) {
    r.declined = true;
    co_return r;
  }
  mark_unsure(c);  // durable before the call: a crash during it leaves a time to count the grace from
  std::optional<openai::api_error> failed;
  try {
    r.id = co_await make();
  } catch (const openai::api_error& e) {
    failed = e;
  }
  if (!failed) co_return r;
  if (openai::effect_of(*failed) == openai::call_effect::refused) {
    r.refusal = std::move(failed);  // nothing was made: after_refusal clears the mark
    co_return r;
  }
  // Unknown: it may exist. The grace counts from the call's end, across restarts.
  const double now = ctx_.clk.now();
  store::chunk_update u;
  u.unsure_at = now;
  if (const auto& ra = failed->retry_after())
    u.not_before = now + std::min(ctx_.config.retry_after_cap_s, std::chrono::duration<double>(*ra).count());
  ctx_.db.update_chunk(c.id, u, now);
  spdlog::warn("job {} chunk {}: {}: {}; it may have happened: looking before trying again", job.row.name, c.idx,
               what, failed->what());
  co_return r;
}

awaitable<void> chunk_steps::after_refusal(const running_job& job, const store::chunk_row& c, const char* what,
                                           const openai::api_error& e, bool again) {
  const double now = ctx_.clk.now();
  store::chunk_update u;
  u.clear_unsure = true;  // the API said no: nothing was made, nothing to look for
  if (openai::is_quota_exhausted(e)) {
    ctx_.db.update_chunk(c.id, u, now);
    throw quota_exhausted(std::string("the account is out of quota (") + what + " refused: " + e.what() +
                          "); top it up, then `batchctl resume " + job.row.name + "`");
  }
  if (!again && !openai::is_rate_limited(e)) {
    co_await end_chunk(job, c, chunk_stage::failed, std::string(what) + " failed: " + e.what());
    co_return;
  }
  std::optional<double> asked;
  if (e.retry_after()) asked = std::chrono::duration<double>(*e.retry_after()).count();
  const double delay = refusal_delay(asked, ++refusals_[c.id], ctx_.config.retry_after_cap_s, jitter_draw());
  u.not_before = now + delay;
  ctx_.db.update_chunk(c.id, u, now);  // durable: a restart waits only the rest
  spdlog::info("job {} chunk {}: {} refused ({}); trying again in {:.1f} s", job.row.name, c.idx, what, e.what(),
               delay);
}

awaitable<void> chunk_steps::upload(const running_job& job, const store::chunk_row& c) {
  const auto filename = upload_name(job.row, c);
  const look_fn look = [&]() -> awaitable<std::optional<std::string>> {
    for (const auto& f : co_await ctx_.api.list_files(std::string("batch")))
      if (f.filename == filename) co_return f.id;
    co_return std::nullopt;
  };
  const make_fn make = [&]() -> awaitable<std::string> {
    const auto check = [c] { check_unchanged(c); };  // what is sent is what was validated
    co_await ctx_.pool.run(check);
    const openai::byte_range range{static_cast<std::uint64_t>(c.offset), static_cast<std::uint64_t>(c.bytes)};
    const auto file = co_await ctx_.api.upload_file(c.path, filename, "batch", openai::retry_create::no, range);
    ctx_.crash_point("after_upload");
    spdlog::info("job {} chunk {}: uploaded {} ({} requests, {} bytes)", job.row.name, c.idx, file.id, c.requests,
                 c.bytes);
    co_return file.id;
  };
  const auto r = co_await try_once(job, c, "upload", look, make);
  if (r.refusal) {
    co_await after_refusal(job, c, "upload", *r.refusal, false);
    co_return;
  }
  if (!r.id) {
    co_await sleep(job, look_delay(ctx_.clk.now() - unsure_since(*ctx_.db.chunk(c.id)), ctx_.config.api_grace_s));
    co_return;
  }
  refusals_.erase(c.id);
  store::chunk_update u;
  u.file_id = *r.id;
  move(c, chunk_stage::uploaded, u);
}

awaitable<void> chunk_steps::create(const running_job& job, const store::chunk_row& c) {
  const auto metadata = batch_metadata(job, c);
  const auto& cfg = ctx_.config;
  std::optional<openai::batch> batch;
  const look_fn look = [&]() -> awaitable<std::optional<std::string>> {
    const double since = c.updated_at - 2 * 86400;
    for (auto& b : co_await ctx_.api.list_batches([&](const openai::batch& b) { return b.created_at >= since; }))
      if (b.metadata == metadata) {
        batch = std::move(b);
        co_return batch->id;
      }
    co_return std::nullopt;
  };
  const make_fn make = [&]() -> awaitable<std::string> {
    openai::create_batch_request req;
    req.input_file_id = *c.file_id;
    req.endpoint = job.row.endpoint.value_or("");
    req.metadata = metadata;
    batch = co_await ctx_.api.create_batch(req);
    ctx_.crash_point("after_create");
    spdlog::info("job {} chunk {}: created batch {}", job.row.name, c.idx, batch->id);
    co_return batch->id;
  };
  // A cancelled job makes no new batch, but still looks for one a lost answer may hide (to cancel it).
  const auto r = co_await try_once(job, c, "batch create", look, make, !job.signal->cancelled());
  if (r.declined) {
    co_await end_chunk(job, c, chunk_stage::cancelled, "cancelled by the user");
    co_return;
  }
  if (r.refusal) {
    const auto& e = *r.refusal;
    if (e.code() == "token_limit_exceeded") {  // admission feedback, whether 400 or 429 (API-FACTS §2)
      ctx_.gate.learn(job.row.model.value_or(""), e.message());
      store::chunk_update u;
      u.not_before = ctx_.clk.now() + cfg.token_limit_retry_s;
      move(c, chunk_stage::uploaded, u);
      co_return;
    }
    // A fresh upload may be unknown to the batch service for a moment (API-FACTS §1).
    const bool file_not_seen_yet = e.status() == 400 && e.param() == std::optional<std::string>("file_id") &&
                                   ctx_.clk.now() - c.updated_at < cfg.api_grace_s;
    co_await after_refusal(job, c, "batch create", e, file_not_seen_yet);
    co_return;
  }
  if (!r.id) {
    co_await sleep(job, look_delay(ctx_.clk.now() - unsure_since(*ctx_.db.chunk(c.id)), cfg.api_grace_s));
    co_return;
  }
  refusals_.erase(c.id);
  store::chunk_update u;
  u.batch_id = batch->id;
  u.batch_status = batch->status;
  move(c, chunk_stage::polling, u);
}

}  // namespace batchd::jobs
