#include "jobs/lifecycle/job_transitions.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>

#include "jobs/kinds/job_kind.hpp"
#include "jobs/results/job_report.hpp"
#include "ledger/ledger.hpp"
#include "jobs/lifecycle/job_outbox.hpp"
#include "jobs/results/outbox_writer.hpp"

namespace batchd::jobs {
namespace fs = std::filesystem;

namespace {

std::atomic<bool> strict_moves{false};

class category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "batchd.job"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::forbidden_move: return "the stage table forbids this move";
      case errc::wrong_stage: return "the job is no longer in the stage this move starts from";
      case errc::unknown_job: return "no such job";
    }
    return "unknown error";
  }
};

job_stage stage_of(const store::job_row& job) { return *parse_job_stage(job.stage); }

std::string str(job_stage s) { return std::string(name(s)); }

}  // namespace

const boost::system::error_category& job_category() {
  static const category c;
  return c;
}

void job_transitions::set_strict(bool strict) { strict_moves = strict; }

job_transitions::job_transitions(store::database& db, spool dirs, const io::clock& clk,
                                 std::shared_ptr<const ledger::pricing_table> prices)
    : db_(db), dirs_(std::move(dirs)), clock_(clk), prices_(std::move(prices)) {}

job_result job_transitions::refuse(const store::job_row& job, job_stage to) {
  spdlog::error("job {}: BUG: no move from {} to {}", job.name, job.stage, name(to));
  if (strict_moves) std::abort();
  return errc::forbidden_move;
}

job_result job_transitions::reread(std::int64_t id) {
  auto row = db_.job(id);
  if (!row) return errc::unknown_job;
  write_report(*row);
  return *row;
}

nlohmann::json job_transitions::money_of(const store::job_row& job) { return ledger::job_money(db_, job, *prices_); }

void job_transitions::report(std::int64_t job_id) {
  if (auto row = db_.job(job_id)) write_report(*row);
}

void job_transitions::write_report(const store::job_row& job) {
  // A report: failing to write it must not undo or fail the move it reports.
  try {
    write_job_json(dirs_, job, db_.chunks_of(job.id), money_of(job));
  } catch (const std::exception& e) {
    spdlog::warn("job {}: job.json not written: {}", job.name, e.what());
    if (is_terminal(stage_of(job)) && !job.retry_at)  // nothing would write it again: the rescuer will
      db_.set_step_error(job.id, std::string("job.json not written yet: ") + e.what(), 1, clock_.now() + 60);
  }
}

// One guarded move: the table, then the row's stage, then `also`, in one transaction.
std::optional<errc> job_transitions::guarded(const store::job_row& job, job_stage to, const std::string& event,
                                             const std::optional<std::string>& error,
                                             const std::function<void()>& also) {
  if (!can_move(stage_of(job), to)) {
    refuse(job, to);
    return errc::forbidden_move;
  }
  bool moved = false;
  db_.transaction([&] {
    moved = db_.move_job(job.id, job.stage, str(to), clock_.now(), error);
    if (!moved) return;
    if (also) also();
    db_.add_event(job.id, std::nullopt, event, clock_.now());
  });
  if (!moved) return errc::wrong_stage;
  return std::nullopt;
}

job_result job_transitions::to_assembled(const store::job_row& job, const assembly& a) {
  const std::string event = "assembled: " + std::to_string(a.requests) + " requests in " +
                            std::to_string(a.chunks.size()) + " chunk(s)";
  if (auto e = guarded(job, job_stage::assembled, event, std::nullopt, [&] {
    db_.set_job_request(job.id, a.endpoint, a.model, a.total);
    std::int64_t input_tokens = 0;
    for (const auto& c : a.chunks) input_tokens += c.estimated_prompt_tokens;
    db_.set_job_estimate(job.id, input_tokens, a.output_token_caps);
    if (a.max_cost) db_.set_job_max_cost(job.id, a.max_cost);
    db_.set_job_spec(job.id, a.spec.dump());
    if (!a.warnings.empty()) db_.set_job_warnings(job.id, nlohmann::json(a.warnings).dump());
    int idx = 0;
    for (const auto& c : a.chunks) {
      store::chunk_row row;
      row.job_id = job.id;
      row.idx = ++idx;
      row.attempt = 1;
      row.stage = std::string(name(chunk_stage::assembled));
      row.path = c.path.string();
      row.offset = static_cast<std::int64_t>(c.offset);
      row.sha256 = c.sha256;
      row.requests = c.requests;
      row.bytes = c.bytes;
      row.est_tokens = c.estimated_prompt_tokens;
      row.ids_path = c.ids.string();
      db_.insert_chunk(row, clock_.now());
    }
  })) return *e;
  return reread(job.id);
}

job_result job_transitions::to_rejected(const store::job_row& job, const std::string& summary,
                                        const std::string& where) {
  if (stage_of(job) != job_stage::received) return refuse(job, job_stage::failed);
  if (auto e = guarded(job, job_stage::failed, "rejected: " + summary, summary + " (see " + where + ")", {})) return *e;
  return reread(job.id);
}

job_result job_transitions::to_held(const store::job_row& job, const std::string& reason) {
  if (stage_of(job) == job_stage::running) return refuse(job, job_stage::held);  // its cost was weighed before it ran
  if (stage_of(job) == job_stage::held) {  // the reason changed, the stage did not
    db_.transaction([&] {
      db_.set_hold(job.id, reason);
      db_.add_event(job.id, std::nullopt, "held: " + reason, clock_.now());
    });
    return reread(job.id);
  }
  if (auto e = guarded(job, job_stage::held, "held: " + reason, std::nullopt, [&] { db_.set_hold(job.id, reason); })) return *e;
  return reread(job.id);
}

job_result job_transitions::to_quota_held(const store::job_row& job, const std::string& reason, double look_again_at) {
  if (stage_of(job) != job_stage::running) return refuse(job, job_stage::held);  // only a call can find the quota out
  if (auto e = guarded(job, job_stage::held, "held: " + reason, std::nullopt,
                       [&] { db_.set_hold(job.id, reason, "quota", look_again_at); }))
    return *e;
  return reread(job.id);
}

job_result job_transitions::to_running(const store::job_row& job) {
  if (auto e = guarded(job, job_stage::running, "running", std::nullopt, [&] { db_.set_hold(job.id, std::nullopt); })) return *e;
  return reread(job.id);
}

job_result job_transitions::to_merged(const store::job_row& job) {
  if (auto e = guarded(job, job_stage::merged, "every chunk ended", std::nullopt, {})) return *e;
  return reread(job.id);
}

void job_transitions::end_open_chunks(const std::vector<store::chunk_row>& chunks, job_stage to,
                                      const std::string& reason) {
  for (const auto& c : chunks) {
    const auto from = *parse_chunk_stage(c.stage);
    if (is_terminal(from)) continue;
    const auto end = to == job_stage::cancelled && can_move(from, chunk_stage::cancelled) ? chunk_stage::cancelled
                                                                                         : chunk_stage::failed;
    store::chunk_update u;
    u.error = reason;
    db_.move_chunk(c.id, c.stage, std::string(name(end)), u, clock_.now());
  }
}

job_result job_transitions::end_with_outbox(const store::job_row& job, job_stage to, const std::string& missing_code,
                                            const std::string& missing_message, std::optional<std::string> error,
                                            const outbox_result* already) {
  if (!can_move(stage_of(job), to)) return refuse(job, to);
  const bool completing = to == job_stage::completed;
  const auto chunks = db_.chunks_of(job.id);
  std::optional<outbox_result> published;
  std::string unpublished;  // why the result files could not be written now
  try {
    if (already) published = *already;
    else published = publish_outbox(dirs_, job, spec_of(job), chunks, !completing, missing_code, missing_message);
  } catch (const std::exception& e) {
    if (completing) throw;  // a step to retry: the results are not lost
    unpublished = e.what();
    spdlog::error("job {}: its result files could not be written ({}); batchd writes them when it can", job.name,
                  unpublished);
  }
  if (published && !published->shortfall.empty() && completing) {
    to = job_stage::failed;  // never completed short
    error = published->shortfall;
    spdlog::error("job {}: {}", job.name, *error);
  }
  const std::string event = std::string("job ") + str(to) + (error ? ": " + *error : "");
  if (auto e = guarded(job, to, event, error, [&] {
        if (published && published->asked > 0)
          db_.set_job_counts(job.id, published->lines.results, published->lines.errors);
        end_open_chunks(chunks, to, error.value_or(std::string("the job was ") + str(to)));
        if (!unpublished.empty())  // the rescuer writes them later
          db_.set_step_error(job.id, "result files not written yet: " + unpublished, 1, clock_.now() + 60);
      }))
    return *e;
  return reread(job.id);
}

bool job_transitions::republish(const store::job_row& job, double retry_at) {
  const auto stage = stage_of(job);
  if (!is_terminal(stage)) return false;
  try {
    const auto r = publish_outbox(dirs_, job, spec_of(job), db_.chunks_of(job.id), stage != job_stage::completed,
                                  finish_missing.code,
                                  "The job " + str(stage) + " before this request had a result" +
                                      (job.error ? ": " + *job.error : std::string()));
    db_.transaction([&] {
      if (r.asked > 0) db_.set_job_counts(job.id, r.lines.results, r.lines.errors);
      db_.clear_step_error(job.id);
      db_.add_event(job.id, std::nullopt, "result files written", clock_.now());
    });
  } catch (const std::exception& e) {
    spdlog::error("job {}: result files still not written: {}", job.name, e.what());
    db_.set_step_error(job.id, std::string("result files not written yet: ") + e.what(), job.step_failures + 1,
                       retry_at);
    return false;
  }
  report(job.id);
  return true;
}

job_spec job_transitions::spec_of(const store::job_row& job) {
  if (!job.spec.empty() || stage_of(job) == job_stage::received) return job_spec::parse(job.spec);
  auto spec = kind_of(job.kind).recover_spec(job, dirs_.job_dir(job.name), dirs_.work_dir(job.name));
  db_.set_job_spec(job.id, spec.dump());
  spdlog::info("job {}: assembled by an earlier batchd; its spec is kept now", job.name);
  return spec;
}

job_result job_transitions::finish(const store::job_row& job) {
  if (stage_of(job) != job_stage::merged) return refuse(job, job_stage::completed);
  return end_with_outbox(job, job.cancel_requested ? job_stage::cancelled : job_stage::completed,
                         finish_missing.code, finish_missing.message, std::nullopt);
}

job_result job_transitions::finish(const store::job_row& job, const outbox_result& published) {
  if (stage_of(job) != job_stage::merged) return refuse(job, job_stage::completed);
  return end_with_outbox(job, job.cancel_requested ? job_stage::cancelled : job_stage::completed,
                         finish_missing.code, finish_missing.message, std::nullopt, &published);
}

job_result job_transitions::fail(const store::job_row& job, const std::string& reason) {
  return end_with_outbox(job, job_stage::failed, finish_missing.code,
                         "The job failed before this request had a result: " + reason, reason);
}

job_result job_transitions::cancel_now(const store::job_row& job) {
  return end_with_outbox(job, job_stage::cancelled, "cancelled", "The job was cancelled before this request ran.",
                         std::nullopt);
}

job_result job_transitions::request_cancel(const store::job_row& job) {
  if (is_terminal(stage_of(job))) return errc::wrong_stage;
  if (!job.cancel_requested)
    db_.transaction([&] {
      db_.request_cancel(job.id);
      db_.add_event(job.id, std::nullopt, "cancel requested", clock_.now());
    });
  return reread(job.id);
}

job_result job_transitions::release(const store::job_row& job) {
  if (stage_of(job) != job_stage::held) return errc::wrong_stage;
  db_.transaction([&] {
    db_.release_job(job.id);
    db_.add_event(job.id, std::nullopt, "released by the user", clock_.now());
  });
  return reread(job.id);
}

job_result job_transitions::resume(const store::job_row& job) {
  if (stage_of(job) != job_stage::held) return errc::wrong_stage;
  if (job.held_for == std::optional<std::string>("quota"))
    db_.transaction([&] {
      db_.set_look_again_at(job.id, clock_.now());
      db_.add_event(job.id, std::nullopt, "resumed: the API is asked again now", clock_.now());
    });
  return reread(job.id);
}

job_result job_transitions::record_step_error(const store::job_row& job, const std::string& error, int failures,
                                              double retry_at) {
  if (is_terminal(stage_of(job))) return errc::wrong_stage;
  db_.transaction([&] {
    db_.set_step_error(job.id, error, failures, retry_at);
    db_.add_event(job.id, std::nullopt, "step failed (" + std::to_string(failures) + " in a row): " + error,
                  clock_.now());
  });
  return reread(job.id);
}

}  // namespace batchd::jobs
