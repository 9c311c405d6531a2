#include "pipeline.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <fstream>
#include <random>

#include "chunk_results.hpp"
#include "client.hpp"
#include "database.hpp"
#include "error.hpp"
#include "job_report.hpp"
#include "ledger.hpp"
#include "manifest.hpp"
#include "manifest_results.hpp"
#include "sha256.hpp"
#include "stage.hpp"

namespace batchd::jobs {
namespace asio = boost::asio;
namespace fs = std::filesystem;
using asio::awaitable;
using asio::use_awaitable;

namespace {

std::string str(chunk_stage s) { return std::string(name(s)); }

// The upload's filename names job, chunk, attempt and content, so a restart
// can find an upload that already happened.
std::string upload_name(const store::job_row& job, const store::chunk_row& c) {
  return "batchd-" + job.name + "-" + std::to_string(job.id) + "-c" + std::to_string(c.idx) + "-a" +
         std::to_string(c.attempt) + "-" + c.sha256.substr(0, 12) + ".jsonl";
}

// The batch's metadata names job, chunk, attempt and try, so a restart can
// find a batch that was already created.
std::map<std::string, std::string> batch_metadata(const store::job_row& job, const store::chunk_row& c) {
  std::map<std::string, std::string> md;
  if (job.kind == "manifest") {  // the user's own metadata first; batchd's keys are reserved
    std::vector<manifest_problem> problems;
    if (const auto m = load_manifest(job.source, job.name, problems)) md = m->metadata;
  }
  md["batchd_job"] = job.name;
  md["batchd_job_id"] = std::to_string(job.id);
  md["batchd_chunk"] = std::to_string(c.idx);
  md["batchd_attempt"] = std::to_string(c.attempt);
  md["batchd_try"] = std::to_string(c.creates);
  return md;
}

std::string file_sha256(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  sha256 h;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.update({buf.data(), static_cast<std::size_t>(in.gcount())});
  }
  return h.hex();
}

double draw() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0, 1)(rng);
}

}  // namespace

std::optional<std::int64_t> parse_token_limit(const std::string& message) {
  const auto at = message.find("Limit: ");
  if (at == std::string::npos) return std::nullopt;
  std::int64_t n = 0;
  bool any = false;
  for (auto i = at + 7; i < message.size(); ++i) {
    const char ch = message[i];
    if (ch >= '0' && ch <= '9') {
      n = n * 10 + (ch - '0');
      any = true;
    } else if (ch != ',') {
      break;
    }
  }
  return any ? std::optional<std::int64_t>(n) : std::nullopt;
}

pipeline::pipeline(asio::any_io_executor ex, store::database& db, spool dirs, openai::client& api,
                   const clock& clk, pipeline_options options)
    : ex_(std::move(ex)), db_(db), dirs_(std::move(dirs)), api_(api), clock_(clk), options_(std::move(options)) {}

void pipeline::start(std::int64_t job_id) {
  if (!running_.insert(job_id).second) return;
  asio::co_spawn(ex_, run_job(job_id), [this, job_id](std::exception_ptr e) {
    running_.erase(job_id);
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      // The job stays where its last committed stage left it; a restart resumes it.
      spdlog::error("job {}: stopped: {}", job_id, ex.what());
    }
  });
}

void pipeline::resume_all() {
  for (const auto& j : db_.unfinished_jobs()) start(j.id);
}

awaitable<void> pipeline::sleep(double seconds, std::int64_t job_id) {
  asio::steady_timer t(ex_, clock_.real(seconds));
  const auto it = sleepers_.emplace(job_id, &t);
  co_await t.async_wait(asio::as_tuple(use_awaitable));  // woken early by cancel(): not an error
  sleepers_.erase(it);
}

void pipeline::wake(std::int64_t job_id) {
  auto [first, last] = sleepers_.equal_range(job_id);
  for (auto it = first; it != last; ++it) it->second->cancel();
}

bool pipeline::cancel_requested(std::int64_t job_id) {
  const auto job = db_.job(job_id);
  return job && job->cancel_requested;
}

bool pipeline::cancel(std::int64_t job_id) {
  const auto job = db_.job(job_id);
  if (!job || is_terminal(*parse_job_stage(job->stage))) return false;
  if (!job->cancel_requested) {
    db_.transaction([&] {
      db_.request_cancel(job_id);
      db_.add_event(job_id, std::nullopt, "cancel requested", clock_.now());
    });
    spdlog::info("job {}: cancel requested", job->name);
  }
  wake(job_id);
  refresh_job_json(job_id);
  start(job_id);  // no-op when it runs; a job that stopped on an error gets to end now
  return true;
}

awaitable<openai::batch> pipeline::current(const std::string& batch_id) {
  const double now = clock_.now();
  if (in_flight_.size() >= options_.list_refresh_from) {
    if (!refreshing_) asio::co_spawn(ex_, refresh_board(), asio::detached);
    // Fresh enough: listed since this batch's last poll delay began.
    if (auto it = board_.find(batch_id); it != board_.end() && now - it->second.first < options_.poll.initial_s)
      co_return it->second.second;
  }
  co_return co_await api_.retrieve_batch(batch_id);
}

awaitable<void> pipeline::refresh_board() {
  refreshing_ = true;
  while (in_flight_.size() >= options_.list_refresh_from) {
    double oldest = clock_.now();
    for (const auto& [_, created] : in_flight_) oldest = std::min(oldest, created);
    try {
      const double listed_at = clock_.now();
      // Newest first: stop once past the oldest batch still in flight.
      for (auto& b : co_await api_.list_batches([&](const openai::batch& b) { return b.created_at >= oldest - 60; }))
        if (in_flight_.count(b.id)) board_[b.id] = {listed_at, std::move(b)};
    } catch (const openai::api_error& e) {
      spdlog::info("refreshing batches by list: {}; polling one by one meanwhile", e.what());
    }
    co_await sleep(options_.poll.initial_s / 2);
  }
  board_.clear();
  refreshing_ = false;
}

bool pipeline::move(const store::chunk_row& c, chunk_stage to, const store::chunk_update& fields) {
  const auto from = *parse_chunk_stage(c.stage);
  if (!can_move(from, to))
    throw std::logic_error("chunk " + std::to_string(c.id) + ": no move from " + c.stage + " to " + str(to));
  return db_.move_chunk(c.id, c.stage, str(to), fields, clock_.now());
}

void pipeline::end_chunk(const store::job_row& job, const store::chunk_row& c, chunk_stage to,
                         const std::string& reason) {
  // Its requests still end somewhere: each becomes an error line with the reason.
  chunk_outcome_input in;
  in.chunk = c.path;
  in.chunk_offset = static_cast<std::uint64_t>(c.offset);
  in.chunk_length = static_cast<std::uint64_t>(c.bytes);
  in.batch_status = to == chunk_stage::cancelled ? "cancelled" : "failed";
  in.batch_error = reason;
  in.cancelled_by_user = to == chunk_stage::cancelled;
  in.may_retry = false;
  in.packed_ids = job.kind == "manifest";
  const auto prefix = attempt_prefix(dirs_, job, c);
  std::filesystem::create_directories(prefix.parent_path());
  const auto out = sort_chunk_results(in, prefix);
  db_.transaction([&] {
    const auto j = *db_.job(job.id);
    db_.set_job_counts(job.id, j.succeeded + out.succeeded, j.failed + out.failed);
    store::chunk_update u;
    u.error = reason;
    move(c, to, u);
  });
  if (to == chunk_stage::cancelled)
    spdlog::info("job {} chunk {}: cancelled before its batch was created", job.name, c.idx);
  else
    spdlog::error("job {} chunk {}: {}; its {} requests are errors", job.name, c.idx, reason, out.failed);
  refresh_job_json(job.id);
}

void pipeline::crash_point(const char* point) const {
  if (options_.crash_at == point) {
    spdlog::critical("crash test: SIGKILL at {}", point);
    spdlog::default_logger()->flush();
    ::raise(SIGKILL);
  }
}

void pipeline::refresh_job_json(std::int64_t job_id) {
  if (auto job = db_.job(job_id)) write_job_json(dirs_, *job, db_.chunks_of(job_id), money_of(*job));
}

nlohmann::json pipeline::money_of(const store::job_row& job) { return job_money(db_, job, *options_.prices); }

bool pipeline::release(std::int64_t job_id) {
  const auto job = db_.job(job_id);
  if (!job || job->stage != name(job_stage::held)) return false;
  db_.transaction([&] {
    db_.release_job(job_id);
    db_.add_event(job_id, std::nullopt, "released by the user", clock_.now());
  });
  spdlog::info("job {}: released", job->name);
  wake(job_id);
  start(job_id);
  return true;
}

awaitable<void> pipeline::hold_or_run(std::int64_t job_id) {
  for (;;) {
    const auto job = *db_.job(job_id);
    const auto stage = *parse_job_stage(job.stage);
    if (stage != job_stage::assembled && stage != job_stage::held) co_return;
    std::optional<std::string> reason;
    if (!job.cancel_requested) {  // a cancelled job runs on only to end its chunks as cancelled
      const auto today = utc_day(clock_.now());
      reason = hold_reason(job, estimate(job, *options_.prices), options_.spending,
                           committed_today(db_, *options_.prices, today), today);
    }
    if (!reason) {
      db_.transaction([&] {
        db_.set_hold_reason(job_id, std::nullopt);
        db_.move_job(job_id, job.stage, "running", clock_.now());
      });
      refresh_job_json(job_id);
      spdlog::info("job {}: running, {} requests", job.name, job.total);
      co_return;
    }
    if (stage == job_stage::assembled || job.hold_reason != reason) {
      db_.transaction([&] {
        db_.set_hold_reason(job_id, reason);
        if (stage == job_stage::assembled) db_.move_job(job_id, "assembled", "held", clock_.now());
        db_.add_event(job_id, std::nullopt, "held: " + *reason, clock_.now());
      });
      refresh_job_json(job_id);
      spdlog::warn("job {}: held: {}", job.name, *reason);
    }
    co_await sleep(options_.held_recheck_s, job_id);
  }
}

awaitable<void> pipeline::run_job(std::int64_t job_id) {
  auto job = db_.job(job_id);
  if (!job) co_return;
  if (job->stage == name(job_stage::received)) {
    spdlog::info("job {}: validating {}", job->name, job->source);
    assemble_job(db_, dirs_, job_id, options_.intake, clock_.now());
    job = db_.job(job_id);
    refresh_job_json(job_id);
    if (job->stage == name(job_stage::failed)) {
      spdlog::warn("job {}: rejected: {}", job->name, job->error.value_or(""));
      co_return;
    }
    spdlog::info("job {}: {} requests; estimated {}", job->name, job->total,
                 money_of(*job)["estimate"].dump());
  }
  if (job->stage == name(job_stage::assembled) || job->stage == name(job_stage::held)) {
    co_await hold_or_run(job_id);
    job = db_.job(job_id);
  }
  if (job->stage == name(job_stage::running)) {
    co_await run_chunks(*job);
    db_.move_job(job_id, "running", "merged", clock_.now());
  }
  finish_job(job_id);
}

void pipeline::finish_job(std::int64_t job_id) {
  auto job = db_.job(job_id);
  if (!job || job->stage != name(job_stage::merged)) return;
  const auto chunks = db_.chunks_of(job_id);
  if (job->kind == "manifest") {
    std::vector<manifest_problem> problems;
    const auto m = load_manifest(job->source, job->name, problems);
    if (!m) throw std::runtime_error("job " + job->name + ": its kept manifest no longer reads");
    publish_manifest_results(dirs_, *job, chunks, *m, std::filesystem::path(job->source).parent_path() / "ids.txt");
  } else {
    publish_results(dirs_, *job, chunks);
  }
  const auto to = job->cancel_requested ? "cancelled" : "completed";
  db_.transaction([&] {
    db_.move_job(job_id, "merged", to, clock_.now());
    db_.add_event(job_id, std::nullopt, std::string("job ") + to, clock_.now());
  });
  job = db_.job(job_id);
  write_job_json(dirs_, *job, chunks, money_of(*job));
  spdlog::info("job {}: {}: {} succeeded, {} failed; results in {}", job->name, to, job->succeeded,
               job->failed, (dirs_.outbox / job->name).string());
}

awaitable<void> pipeline::run_chunks(const store::job_row& job) {
  std::set<int> indexes;
  for (const auto& c : db_.chunks_of(job.id)) indexes.insert(c.idx);
  std::size_t remaining = indexes.size();
  asio::steady_timer all_done(ex_, asio::steady_timer::time_point::max());
  std::exception_ptr first_error;
  for (int idx : indexes) {
    asio::co_spawn(ex_, run_chunk_chain(job, idx), [&](std::exception_ptr e) {
      if (e && !first_error) first_error = e;
      if (--remaining == 0) all_done.cancel();
    });
  }
  if (remaining > 0) co_await all_done.async_wait(asio::as_tuple(use_awaitable));
  if (first_error) std::rethrow_exception(first_error);
}

awaitable<void> pipeline::run_chunk_chain(store::job_row job, int idx) {
  for (;;) {
    std::optional<store::chunk_row> latest;
    for (const auto& c : db_.chunks_of(job.id))
      if (c.idx == idx && (!latest || c.attempt > latest->attempt)) latest = c;
    if (!latest || is_terminal(*parse_chunk_stage(latest->stage))) co_return;
    co_await run_attempt(job, latest->id);
  }
}

awaitable<void> pipeline::run_attempt(const store::job_row& job, std::int64_t chunk_id) {
  for (;;) {
    const auto c = *db_.chunk(chunk_id);
    const auto stage = *parse_chunk_stage(c.stage);
    if (is_terminal(stage)) co_return;
    // Cancelled before a batch exists: nothing to stop at the API. (`creating`
    // may already have a batch; create() looks for it first.)
    if ((stage == chunk_stage::assembled || stage == chunk_stage::uploading || stage == chunk_stage::uploaded) &&
        cancel_requested(job.id)) {
      end_chunk(job, c, chunk_stage::cancelled, "cancelled by the user");
      co_return;
    }
    switch (stage) {
      case chunk_stage::assembled:
        if (move(c, chunk_stage::uploading, {}))
          nothing_sent_.insert(c.id);
        break;
      case chunk_stage::uploading:
        co_await upload(job, c);
        break;
      case chunk_stage::uploaded: {
        if (c.not_before > clock_.now()) co_await sleep(c.not_before - clock_.now(), job.id);
        // Hold the chunk while the model's enqueued tokens would pass the limit.
        const auto model = job.model.value_or("");
        const auto limit = token_limits_.count(model) ? token_limits_[model] : options_.enqueued_token_limit;
        if (limit > 0) {
          const auto in_flight = db_.tokens_in_flight(model);
          if (in_flight > 0 && in_flight + c.est_tokens > limit) {
            co_await sleep(options_.poll.initial_s, job.id);
            break;
          }
        }
        store::chunk_update u;
        u.creates = c.creates + 1;
        if (move(c, chunk_stage::creating, u))
          nothing_sent_.insert(c.id);
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

awaitable<void> pipeline::upload(const store::job_row& job, const store::chunk_row& c) {
  const auto filename = upload_name(job, c);
  std::optional<std::string> file_id;
  const bool look_first = nothing_sent_.erase(c.id) == 0;
  try {
    // Before a crash or a lost response, this upload may have happened already.
    if (look_first)
      for (const auto& f : co_await api_.list_files(std::string("batch")))
        if (f.filename == filename) file_id = f.id;
    if (file_id) {
      spdlog::info("job {} chunk {}: found earlier upload {}", job.name, c.idx, *file_id);
    } else {
      const openai::byte_range range{static_cast<std::uint64_t>(c.offset), static_cast<std::uint64_t>(c.bytes)};
      file_id = (co_await api_.upload_file(c.path, filename, "batch", openai::retry_create::no, range)).id;
      crash_point("after_upload");
      spdlog::info("job {} chunk {}: uploaded {} ({} requests, {} bytes)", job.name, c.idx, *file_id,
                   c.requests, c.bytes);
    }
  } catch (const openai::api_error& e) {
    if (!e.retryable()) {
      end_chunk(job, c, chunk_stage::failed, std::string("upload failed: ") + e.what());
      co_return;
    }
    spdlog::warn("job {} chunk {}: upload: {}; will look and try again", job.name, c.idx, e.what());
  }
  if (!file_id) {
    co_await sleep(backoff_delay({10, 2, 300}, 0, draw()), job.id);
    co_return;
  }
  store::chunk_update u;
  u.file_id = *file_id;
  move(c, chunk_stage::uploaded, u);
}

awaitable<void> pipeline::create(const store::job_row& job, const store::chunk_row& c) {
  const auto metadata = batch_metadata(job, c);
  std::optional<openai::batch> batch;
  const bool look_first = nothing_sent_.erase(c.id) == 0;
  bool wait_and_look_again = false;
  try {
    // Before a crash or a lost response, this batch may have been created already.
    if (look_first) {
      const double since = c.updated_at - 2 * 86400;
      for (const auto& b : co_await api_.list_batches([&](const openai::batch& b) { return b.created_at >= since; }))
        if (b.metadata == metadata) batch = b;
      // A batch created a moment ago may not be listed yet: creating another
      // would pay twice, so give the API its grace before concluding it is not there.
      wait_and_look_again = !batch && clock_.now() - c.updated_at < options_.api_grace_s;
    }
    if (batch) {
      spdlog::info("job {} chunk {}: found earlier batch {}", job.name, c.idx, batch->id);
    } else if (wait_and_look_again) {
      spdlog::info("job {} chunk {}: no earlier batch listed yet; looking again before creating", job.name, c.idx);
    } else if (cancel_requested(job.id)) {
      end_chunk(job, c, chunk_stage::cancelled, "cancelled by the user");
      co_return;
    } else {
      openai::create_batch_request req;
      req.input_file_id = *c.file_id;
      req.endpoint = job.endpoint.value_or("");
      req.metadata = metadata;
      batch = co_await api_.create_batch(req);
      crash_point("after_create");
      spdlog::info("job {} chunk {}: created batch {}", job.name, c.idx, batch->id);
    }
  } catch (const openai::api_error& e) {
    if (e.code() == "token_limit_exceeded") {
      if (auto limit = parse_token_limit(e.message())) token_limits_[job.model.value_or("")] = *limit;
      store::chunk_update u;
      u.not_before = clock_.now() + options_.token_limit_retry_s;
      move(c, chunk_stage::uploaded, u);
      co_return;
    }
    // A fresh upload may be unknown to the batch service for a moment.
    const bool file_not_seen_yet = e.status() == 400 && e.param() == std::optional<std::string>("file_id") &&
                                   clock_.now() - c.updated_at < options_.api_grace_s;
    if (!e.retryable() && !file_not_seen_yet) {
      end_chunk(job, c, chunk_stage::failed, std::string("creating the batch failed: ") + e.what());
      co_return;
    }
    spdlog::warn("job {} chunk {}: create: {}; will look and try again", job.name, c.idx, e.what());
  }
  if (!batch) {
    const double wait = wait_and_look_again ? options_.api_grace_s / 4 : backoff_delay({5, 2, 120}, 0, draw());
    co_await sleep(wait, job.id);
    co_return;
  }
  store::chunk_update u;
  u.batch_id = batch->id;
  u.batch_status = batch->status;
  move(c, chunk_stage::polling, u);
}

awaitable<void> pipeline::poll(const store::job_row& job, const store::chunk_row& c) {
  in_flight_[*c.batch_id] = c.updated_at;
  // Unregisters when the poll ends — unless the pipeline is gone already
  // (the io_context destroys suspended coroutines after it, at shutdown).
  struct leave {
    std::map<std::string, double>& m;
    std::string id;
    std::shared_ptr<bool> alive;
    ~leave() {
      if (*alive) m.erase(id);
    }
  } registered{in_flight_, *c.batch_id, alive_};
  int quiet_polls = 0;
  double first_miss = 0;  // when the batch first answered 404 or failed to answer
  std::int64_t last_done = -1;
  double null_output_since = 0;
  for (;;) {
    openai::batch b;
    bool look_again = false;
    try {
      b = co_await current(*c.batch_id);
    } catch (const openai::api_error& e) {
      if (e.status() != 404 && !e.retryable()) throw;
      look_again = true;  // a 404 just after the create: the service may not show it yet
    }
    if (look_again) {
      if (first_miss == 0) first_miss = clock_.now();
      if (clock_.now() - first_miss > options_.api_grace_s) {
        // Not a moment of catching up any more: the batch is gone. Its requests
        // end as errors rather than be sent again and maybe paid twice.
        store::chunk_update u;
        u.batch_status = "failed";
        u.error = "batch " + *c.batch_id + " could not be found at the API";
        move(c, chunk_stage::downloading, u);
        spdlog::error("job {} chunk {}: {}", job.name, c.idx, *u.error);
        co_return;
      }
      co_await sleep(backoff_delay({2, 2, 60}, quiet_polls++, draw()), job.id);
      continue;
    }
    first_miss = 0;
    const auto done = b.counts.completed + b.counts.failed;
    store::chunk_update u;
    u.batch_status = b.status;
    u.req_total = b.counts.total;
    u.req_completed = b.counts.completed;
    u.req_failed = b.counts.failed;
    if (done != last_done || b.status != c.batch_status) {
      db_.update_chunk(c.id, u, clock_.now());
      refresh_job_json(job.id);
      if (done != last_done) quiet_polls = 0;  // progress: look again soon
      last_done = done;
    }
    if (!b.is_terminal() && b.status != "cancelling" && cancel_requested(job.id)) {
      // Partial results still come back: the batch ends as cancelled with an output file.
      try {
        b = co_await api_.cancel_batch(b.id);
        store::chunk_update cancelling;
        cancelling.batch_status = b.status;
        db_.update_chunk(c.id, cancelling, clock_.now());
        spdlog::info("job {} chunk {}: batch {} {}", job.name, c.idx, b.id, b.status);
      } catch (const openai::api_error& e) {
        spdlog::warn("job {} chunk {}: cancelling batch {}: {}; trying again", job.name, c.idx, b.id, e.what());
      }
    }
    if (b.is_terminal()) {
      if (b.status == "failed" && !b.errors.empty() && b.errors[0].code == "token_limit_exceeded") {
        if (auto limit = parse_token_limit(b.errors[0].message)) token_limits_[job.model.value_or("")] = *limit;
        spdlog::warn("job {} chunk {}: batch {} refused: enqueued token limit; trying again later",
                     job.name, c.idx, b.id);
        u.not_before = clock_.now() + options_.token_limit_retry_s;
        move(c, chunk_stage::uploaded, u);
        co_return;
      }
      // Completed with requests done but no output file yet: give it a moment.
      if (b.status == "completed" && !b.output_file_id && !b.error_file_id && b.counts.completed > 0) {
        if (null_output_since == 0) null_output_since = clock_.now();
        if (clock_.now() - null_output_since < options_.api_grace_s) {
          co_await sleep(5, job.id);
          continue;
        }
      }
      if (b.output_file_id) u.output_file_id = *b.output_file_id;
      if (b.error_file_id) u.error_file_id = *b.error_file_id;
      if (b.status == "failed") {
        std::string why;
        for (const auto& e : b.errors)
          why += (why.empty() ? "" : "; ") + e.code + (e.line ? " (line " + std::to_string(*e.line) + ")" : "") + ": " + e.message;
        u.error = why;
      }
      spdlog::info("job {} chunk {}: batch {} {} ({} done, {} failed)", job.name, c.idx, b.id, b.status,
                   b.counts.completed, b.counts.failed);
      move(c, chunk_stage::downloading, u);
      co_return;
    }
    const double delay = poll_delay(options_.poll, b.status, quiet_polls++, draw(), clock_.now(),
                                    static_cast<double>(b.expires_at.value_or(0)));
    co_await sleep(delay, job.id);
  }
}

awaitable<void> pipeline::download_and_sort(const store::job_row& job, const store::chunk_row& c) {
  const auto prefix = attempt_prefix(dirs_, job, c);
  fs::create_directories(prefix.parent_path());
  chunk_outcome_input in;
  in.chunk = c.path;
  in.chunk_offset = static_cast<std::uint64_t>(c.offset);
  in.chunk_length = static_cast<std::uint64_t>(c.bytes);
  in.batch_status = c.batch_status.value_or("failed");
  in.batch_error = c.error.value_or("");
  in.cancelled_by_user = cancel_requested(job.id);
  in.packed_ids = job.kind == "manifest";
  in.may_retry = c.attempt < options_.max_attempts;
  bool download_failed = false;
  try {
    if (c.output_file_id) {
      in.output_file = prefix.string() + ".output.jsonl";
      co_await api_.download_file(*c.output_file_id, *in.output_file);
      crash_point("mid_download");  // one file down, the other not
    }
    if (c.error_file_id) {
      in.error_file = prefix.string() + ".error.jsonl";
      co_await api_.download_file(*c.error_file_id, *in.error_file);
    }
  } catch (const openai::api_error& e) {
    if (!e.retryable() && e.status() != 404) throw;
    spdlog::warn("job {} chunk {}: download: {}; trying again", job.name, c.idx, e.what());
    download_failed = true;
  }
  if (download_failed) {
    co_await sleep(backoff_delay({5, 2, 120}, 0, draw()), job.id);
    co_return;
  }
  const auto out = sort_chunk_results(in, prefix);
  crash_point("mid_merge");
  db_.transaction([&] {
    if (out.retry > 0) {
      store::chunk_row next;
      next.job_id = job.id;
      next.idx = c.idx;
      next.attempt = c.attempt + 1;
      next.stage = str(chunk_stage::assembled);
      next.path = out.retry_input.string();
      next.sha256 = file_sha256(out.retry_input);
      next.requests = out.retry;
      next.bytes = static_cast<std::int64_t>(fs::file_size(out.retry_input));
      next.est_tokens = (next.bytes + 3) / 4;
      db_.insert_chunk(next, clock_.now());
    }
    const auto j = *db_.job(job.id);
    db_.set_job_counts(job.id, j.succeeded + out.succeeded, j.failed + out.failed);
    // Booked with the merge, in one transaction: a merge redone after a
    // crash books once (and the ledger's UNIQUE (chunk, model) says so too).
    for (const auto& e : bookings_for(j, c, out.usage, *options_.prices)) db_.book(e, clock_.now());
    crash_point("mid_booking");
    move(c, chunk_stage::merged, {});
    db_.add_event(job.id, c.id,
                  "attempt " + std::to_string(c.attempt) + ": " + std::to_string(out.succeeded) + " succeeded, " +
                      std::to_string(out.failed) + " failed, " + std::to_string(out.retry) + " to retry",
                  clock_.now());
  });
  spdlog::info("job {} chunk {} attempt {}: {} succeeded, {} failed, {} to retry", job.name, c.idx, c.attempt,
               out.succeeded, out.failed, out.retry);
  refresh_job_json(job.id);
  if (options_.delete_remote_files) {
    // Housekeeping only: a failure here costs storage, not results.
    for (const auto& id : {c.file_id, c.output_file_id, c.error_file_id}) {
      if (!id) continue;
      try {
        co_await api_.delete_file(*id);
      } catch (const openai::api_error& e) {
        spdlog::info("job {} chunk {}: could not delete {}: {}", job.name, c.idx, *id, e.what());
      }
    }
  }
}

}  // namespace batchd::jobs
