// The jobs table.
#include "store/sqlite/sqlite_database.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include "store/sqlite/statements.hpp"

namespace batchd::store {
using namespace sqlite_detail;

namespace {

constexpr const char* job_columns =
    "id, name, kind, source, stage, endpoint, model, error, total, succeeded, failed, "
    "cancel_requested, created_at, finished_at, est_input_tokens, est_output_tokens, max_cost, hold_reason, "
    "released, spec, last_error, step_failures, retry_at, held_for, look_again_at";

job_row read_job(SQLite::Statement& q) {
  job_row j;
  j.id = q.getColumn(0).getInt64();
  j.name = q.getColumn(1).getString();
  j.kind = q.getColumn(2).getString();
  j.source = q.getColumn(3).getString();
  j.stage = q.getColumn(4).getString();
  j.endpoint = opt_text(q.getColumn(5));
  j.model = opt_text(q.getColumn(6));
  j.error = opt_text(q.getColumn(7));
  j.total = q.getColumn(8).getInt64();
  j.succeeded = q.getColumn(9).getInt64();
  j.failed = q.getColumn(10).getInt64();
  j.cancel_requested = q.getColumn(11).getInt() != 0;
  j.created_at = q.getColumn(12).getDouble();
  if (!q.getColumn(13).isNull()) j.finished_at = q.getColumn(13).getDouble();
  j.est_input_tokens = q.getColumn(14).getInt64();
  j.est_output_tokens = q.getColumn(15).getInt64();
  if (!q.getColumn(16).isNull()) j.max_cost = q.getColumn(16).getInt64();
  j.hold_reason = opt_text(q.getColumn(17));
  j.released = q.getColumn(18).getInt() != 0;
  j.spec = q.getColumn(19).isNull() ? "" : q.getColumn(19).getString();
  j.last_error = opt_text(q.getColumn(20));
  j.step_failures = q.getColumn(21).getInt();
  if (!q.getColumn(22).isNull()) j.retry_at = q.getColumn(22).getDouble();
  j.held_for = opt_text(q.getColumn(23));
  if (!q.getColumn(24).isNull()) j.look_again_at = q.getColumn(24).getDouble();
  return j;
}

}  // namespace

std::string sqlite_database::free_job_name(const std::string& base, const std::set<std::string>& reserved) {
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
  auto& q = statement("INSERT INTO jobs (name, kind, source, stage, created_at) "
                      "VALUES (?, ?, ?, 'received', ?)");
  const statement_reset reset_after{q};
  q.bind(1, name);
  q.bind(2, kind);
  q.bind(3, source);
  q.bind(4, now);
  q.exec();
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
  auto& q = statement(std::string("SELECT ") + job_columns + " FROM jobs WHERE (?1 = 0 OR id < ?1)" +
                                (stages.empty() ? "" : " AND stage IN (" + in + ")") +
                                " ORDER BY id DESC LIMIT ?2");
  const statement_reset reset_after{q};
  q.bind(1, before_id);
  q.bind(2, limit);
  for (std::size_t i = 0; i < stages.size(); ++i) q.bind(static_cast<int>(i + 3), stages[i]);
  std::vector<job_row> out;
  while (q.executeStep()) out.push_back(read_job(q));
  return out;
}

std::map<std::string, std::int64_t> sqlite_database::jobs_by_stage() {
  auto& q = statement("SELECT stage, COUNT(*) FROM jobs GROUP BY stage");
  const statement_reset reset_after{q};
  std::map<std::string, std::int64_t> out;
  while (q.executeStep()) out[q.getColumn(0).getString()] = q.getColumn(1).getInt64();
  return out;
}

std::map<std::string, std::int64_t> sqlite_database::held_jobs_by_reason() {
  auto& q = statement("SELECT COALESCE(held_for, 'cost'), COUNT(*) FROM jobs WHERE stage = 'held' GROUP BY 1");
  const statement_reset reset_after{q};
  std::map<std::string, std::int64_t> out{{"cost", 0}, {"quota", 0}};
  while (q.executeStep()) out[q.getColumn(0).getString()] = q.getColumn(1).getInt64();
  return out;
}

bool sqlite_database::move_job(std::int64_t id, const std::string& from, const std::string& to,
                        double now, const std::optional<std::string>& error) {
  auto& q = statement("UPDATE jobs SET stage = ?1, error = COALESCE(?2, error), "
                      "finished_at = CASE WHEN ?1 IN ('completed', 'failed', 'cancelled') "
                      "THEN ?3 END, last_error = NULL, step_failures = 0, retry_at = NULL "
                      "WHERE id = ?4 AND stage = ?5");
  const statement_reset reset_after{q};
  q.bind(1, to);
  bind_opt(q, 2, error);
  q.bind(3, now);
  q.bind(4, id);
  q.bind(5, from);
  return q.exec() == 1;
}

void sqlite_database::set_job_request(std::int64_t id, const std::string& endpoint,
                               const std::string& model, std::int64_t total) {
  auto& q = statement("UPDATE jobs SET endpoint = ?, model = ?, total = ? WHERE id = ?");
  const statement_reset reset_after{q};
  q.bind(1, endpoint);
  q.bind(2, model);
  q.bind(3, total);
  q.bind(4, id);
  q.exec();
}

void sqlite_database::set_job_counts(std::int64_t id, std::int64_t succeeded, std::int64_t failed) {
  auto& q = statement("UPDATE jobs SET succeeded = ?, failed = ? WHERE id = ?");
  const statement_reset reset_after{q};
  q.bind(1, succeeded);
  q.bind(2, failed);
  q.bind(3, id);
  q.exec();
}

void sqlite_database::add_job_counts(std::int64_t id, std::int64_t succeeded, std::int64_t failed) {
  auto& q = statement("UPDATE jobs SET succeeded = succeeded + ?, failed = failed + ? WHERE id = ?");
  const statement_reset reset_after{q};
  q.bind(1, succeeded);
  q.bind(2, failed);
  q.bind(3, id);
  q.exec();
}

void sqlite_database::set_job_spec(std::int64_t id, const std::string& spec) {
  auto& q = statement("UPDATE jobs SET spec = ? WHERE id = ?");
  const statement_reset reset_after{q};
  q.bind(1, spec);
  q.bind(2, id);
  q.exec();
}

void sqlite_database::set_step_error(std::int64_t id, const std::string& error, int failures, double retry_at) {
  auto& q = statement("UPDATE jobs SET last_error = ?, step_failures = ?, retry_at = ? WHERE id = ?");
  const statement_reset reset_after{q};
  q.bind(1, error);
  q.bind(2, failures);
  q.bind(3, retry_at);
  q.bind(4, id);
  q.exec();
}

void sqlite_database::clear_step_error(std::int64_t id) {
  auto& q = statement("UPDATE jobs SET last_error = NULL, step_failures = 0, retry_at = NULL "
                      "WHERE id = ? AND (step_failures > 0 OR retry_at IS NOT NULL)");
  const statement_reset reset_after{q};
  q.bind(1, id);
  q.exec();
}

std::vector<job_row> sqlite_database::finished_jobs_due(double now) {
  auto& q = statement(std::string("SELECT ") + job_columns +
                      " FROM jobs WHERE retry_at IS NOT NULL AND finished_at IS NOT NULL AND retry_at <= ? ORDER BY id");
  const statement_reset reset_after{q};
  q.bind(1, now);
  std::vector<job_row> out;
  while (q.executeStep()) out.push_back(read_job(q));
  return out;
}

void sqlite_database::request_cancel(std::int64_t id) {
  auto& q = statement("UPDATE jobs SET cancel_requested = 1 WHERE id = ?");
  const statement_reset reset_after{q};
  q.bind(1, id);
  q.exec();
}

void sqlite_database::set_job_estimate(std::int64_t id, std::int64_t input_tokens, std::int64_t output_tokens) {
  auto& q = statement("UPDATE jobs SET est_input_tokens = ?, est_output_tokens = ? WHERE id = ?");
  const statement_reset reset_after{q};
  q.bind(1, input_tokens);
  q.bind(2, output_tokens);
  q.bind(3, id);
  q.exec();
}

void sqlite_database::set_job_max_cost(std::int64_t id, std::optional<std::int64_t> pico_usd) {
  auto& q = statement("UPDATE jobs SET max_cost = ? WHERE id = ?");
  const statement_reset reset_after{q};
  bind_opt(q, 1, pico_usd);
  q.bind(2, id);
  q.exec();
}

void sqlite_database::set_hold(std::int64_t id, const std::optional<std::string>& reason, const std::string& held_for,
                        std::optional<double> look_again_at) {
  auto& q = statement("UPDATE jobs SET hold_reason = ?, held_for = ?, look_again_at = ? WHERE id = ?");
  const statement_reset reset_after{q};
  bind_opt(q, 1, reason);
  bind_opt(q, 2, reason ? std::optional<std::string>(held_for) : std::nullopt);
  bind_opt(q, 3, reason ? look_again_at : std::nullopt);
  q.bind(4, id);
  q.exec();
}

void sqlite_database::set_look_again_at(std::int64_t id, double at) {
  auto& q = statement("UPDATE jobs SET look_again_at = ? WHERE id = ? AND look_again_at IS NOT NULL");
  const statement_reset reset_after{q};
  q.bind(1, at);
  q.bind(2, id);
  q.exec();
}

void sqlite_database::release_job(std::int64_t id) {
  auto& q = statement("UPDATE jobs SET released = 1 WHERE id = ?");
  const statement_reset reset_after{q};
  q.bind(1, id);
  q.exec();
}

}  // namespace batchd::store
