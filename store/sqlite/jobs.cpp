// The jobs table.
#include <SQLiteCpp/SQLiteCpp.h>

#include "store/sqlite/sqlite_database.hpp"
#include "store/sqlite/statements.hpp"

namespace batchd::store {
using namespace sqlite_detail;

namespace {

constexpr const char* job_columns =
    "id, name, kind, source, stage, endpoint, model, error, total, succeeded, failed, "
    "cancel_requested, created_at, finished_at, est_input_tokens, est_output_tokens, max_cost, "
    "hold_reason, "
    "released, spec, last_error, step_failures, retry_at, held_for, look_again_at, warnings";

job_row read_job(SQLite::Statement& q) {
  columns row(q);
  job_row j;
  j.id = row.i64();
  j.name = row.text();
  j.kind = row.text();
  j.source = row.text();
  j.stage = row.text();
  j.endpoint = row.opt_text();
  j.model = row.opt_text();
  j.error = row.opt_text();
  j.total = row.i64();
  j.succeeded = row.i64();
  j.failed = row.i64();
  j.cancel_requested = row.flag();
  j.created_at = row.f64();
  j.finished_at = row.opt_f64();
  j.est_input_tokens = row.i64();
  j.est_output_tokens = row.i64();
  j.max_cost = row.opt_i64();
  j.hold_reason = row.opt_text();
  j.released = row.flag();
  j.spec = row.text();
  j.last_error = row.opt_text();
  j.step_failures = row.i32();
  j.retry_at = row.opt_f64();
  j.held_for = row.opt_text();
  j.look_again_at = row.opt_f64();
  j.warnings = row.text();
  return j;
}

}  // namespace

std::string sqlite_database::free_job_name(const std::string& base,
                                           const std::set<std::string>& reserved) {
  auto& q = statement("SELECT 1 FROM jobs WHERE name = ?");
  const statement_reset reset_after{q};
  for (int n = 1;; ++n) {
    const auto name = n == 1 ? base : base + "-" + std::to_string(n);
    if (reserved.contains(name)) continue;
    q.reset();
    q.bind(1, name);
    if (!q.executeStep()) return name;
  }
}

std::int64_t sqlite_database::insert_job(const std::string& name, const std::string& kind,
                                         const std::string& source, double now) {
  execute(
      "INSERT INTO jobs (name, kind, source, stage, created_at) "
      "VALUES (?, ?, ?, 'received', ?)",
      name, kind, source, now);
  return db_->getLastInsertRowid();
}

std::optional<job_row> sqlite_database::job(std::int64_t id) {
  auto& q = statement(std::string("SELECT ") + job_columns + " FROM jobs WHERE id = ?");
  const statement_reset reset_after{q};
  q.bind(1, id);
  if (!q.executeStep()) return std::nullopt;
  return read_job(q);
}

std::optional<job_row> sqlite_database::job_by_name(const std::string& name) {
  auto& q = statement(std::string("SELECT ") + job_columns + " FROM jobs WHERE name = ?");
  const statement_reset reset_after{q};
  q.bind(1, name);
  if (!q.executeStep()) return std::nullopt;
  return read_job(q);
}

std::vector<job_row> sqlite_database::unfinished_jobs() {
  auto& q = statement(std::string("SELECT ") + job_columns +
                      " FROM jobs WHERE finished_at IS NULL ORDER BY id");
  const statement_reset reset_after{q};
  std::vector<job_row> out;
  while (q.executeStep()) out.push_back(read_job(q));
  return out;
}

std::vector<job_row> sqlite_database::jobs_newest_first(std::int64_t limit, std::int64_t before_id,
                                                        const std::vector<std::string>& stages) {
  std::string in;
  for (std::size_t i = 0; i < stages.size(); ++i) in += (i ? ", ?" : "?") + std::to_string(i + 3);
  auto& q = statement(
      std::string("SELECT ") + job_columns + " FROM jobs WHERE (?1 = 0 OR id < ?1)" +
      (stages.empty() ? "" : " AND stage IN (" + in + ")") + " ORDER BY id DESC LIMIT ?2");
  const statement_reset reset_after{q};
  q.bind(1, before_id);
  q.bind(2, limit);
  for (std::size_t i = 0; i < stages.size(); ++i) q.bind(static_cast<int>(i + 3), stages[i]);
  std::vector<job_row> out;
  while (q.executeStep()) out.push_back(read_job(q));
  return out;
}

std::map<std::string, std::int64_t> sqlite_database::jobs_by_stage() {
  return counts("SELECT stage, COUNT(*) FROM jobs GROUP BY stage");
}

std::map<std::string, std::int64_t> sqlite_database::held_jobs_by_reason() {
  return counts("SELECT COALESCE(held_for, 'cost'), COUNT(*) FROM jobs WHERE stage = 'held' GROUP BY 1",
                {{"cost", 0}, {"quota", 0}});
}

bool sqlite_database::move_job(std::int64_t id, const std::string& from, const std::string& to,
                               double now, const std::optional<std::string>& error) {
  return execute(
             "UPDATE jobs SET stage = ?1, error = COALESCE(?2, error), "
             "finished_at = CASE WHEN ?1 IN ('completed', 'failed', 'cancelled') "
             "THEN ?3 END, last_error = NULL, step_failures = 0, retry_at = NULL "
             "WHERE id = ?4 AND stage = ?5",
             to, error, now, id, from) == 1;
}

void sqlite_database::set_job_request(std::int64_t id, const std::string& endpoint,
                                      const std::string& model, std::int64_t total) {
  execute("UPDATE jobs SET endpoint = ?, model = ?, total = ? WHERE id = ?", endpoint, model, total,
          id);
}

void sqlite_database::set_job_counts(std::int64_t id, std::int64_t succeeded, std::int64_t failed) {
  execute("UPDATE jobs SET succeeded = ?, failed = ? WHERE id = ?", succeeded, failed, id);
}

void sqlite_database::add_job_counts(std::int64_t id, std::int64_t succeeded, std::int64_t failed) {
  execute("UPDATE jobs SET succeeded = succeeded + ?, failed = failed + ? WHERE id = ?", succeeded,
          failed, id);
}

void sqlite_database::set_job_spec(std::int64_t id, const std::string& spec) {
  execute("UPDATE jobs SET spec = ? WHERE id = ?", spec, id);
}

void sqlite_database::set_step_error(std::int64_t id, const std::string& error, int failures,
                                     double retry_at) {
  execute("UPDATE jobs SET last_error = ?, step_failures = ?, retry_at = ? WHERE id = ?", error,
          failures, retry_at, id);
}

void sqlite_database::clear_step_error(std::int64_t id) {
  execute(
      "UPDATE jobs SET last_error = NULL, step_failures = 0, retry_at = NULL "
      "WHERE id = ? AND (step_failures > 0 OR retry_at IS NOT NULL)",
      id);
}

std::vector<job_row> sqlite_database::finished_jobs_due(double now) {
  auto& q = statement(std::string("SELECT ") + job_columns +
                      " FROM jobs WHERE retry_at IS NOT NULL AND finished_at IS NOT NULL AND "
                      "retry_at <= ? ORDER BY id");
  const statement_reset reset_after{q};
  q.bind(1, now);
  std::vector<job_row> out;
  while (q.executeStep()) out.push_back(read_job(q));
  return out;
}

void sqlite_database::request_cancel(std::int64_t id) {
  execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", id);
}

void sqlite_database::set_job_estimate(std::int64_t id, std::int64_t input_tokens,
                                       std::int64_t output_tokens) {
  execute("UPDATE jobs SET est_input_tokens = ?, est_output_tokens = ? WHERE id = ?", input_tokens,
          output_tokens, id);
}

void sqlite_database::set_job_max_cost(std::int64_t id, std::optional<std::int64_t> pico_usd) {
  execute("UPDATE jobs SET max_cost = ? WHERE id = ?", pico_usd, id);
}

void sqlite_database::set_hold(std::int64_t id, const std::optional<std::string>& reason,
                               const std::string& held_for, std::optional<double> look_again_at) {
  execute("UPDATE jobs SET hold_reason = ?, held_for = ?, look_again_at = ? WHERE id = ?", reason,
          reason ? std::optional<std::string>(held_for) : std::nullopt,
          reason ? look_again_at : std::nullopt, id);
}

void sqlite_database::set_look_again_at(std::int64_t id, double at) {
  execute("UPDATE jobs SET look_again_at = ? WHERE id = ? AND look_again_at IS NOT NULL", at, id);
}

void sqlite_database::set_job_warnings(std::int64_t id, const std::string& warnings) {
  execute("UPDATE jobs SET warnings = ? WHERE id = ?", warnings, id);
}

void sqlite_database::release_job(std::int64_t id) {
  execute("UPDATE jobs SET released = 1 WHERE id = ?", id);
}

}  // namespace batchd::store
