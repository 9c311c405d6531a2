// The chunks table: one row per batch attempt.
#include <SQLiteCpp/SQLiteCpp.h>

#include "store/sqlite/sqlite_database.hpp"
#include "store/sqlite/statements.hpp"

namespace batchd::store {
using namespace sqlite_detail;

namespace {

constexpr const char* chunk_columns =
    "id, job_id, idx, attempt, stage, path, sha256, requests, bytes, est_tokens, file_id, "
    "batch_id, batch_status, output_file_id, error_file_id, error, req_total, req_completed, "
    "req_failed, not_before, creates, updated_at, offset, ids_path, merged_succeeded, "
    "merged_failed, merged_retry, merged_lost, unsure_at, "
    "api_input_tokens, api_cached_tokens, api_output_tokens, usage_mismatch";

chunk_row read_chunk(SQLite::Statement& q) {
  columns row(q);
  chunk_row c;
  c.id = row.i64();
  c.job_id = row.i64();
  c.idx = row.i32();
  c.attempt = row.i32();
  c.stage = row.text();
  c.path = row.text();
  c.sha256 = row.text();
  c.requests = row.i64();
  c.bytes = row.i64();
  c.est_tokens = row.i64();
  c.file_id = row.opt_text();
  c.batch_id = row.opt_text();
  c.batch_status = row.opt_text();
  c.output_file_id = row.opt_text();
  c.error_file_id = row.opt_text();
  c.error = row.opt_text();
  c.req_total = row.i64();
  c.req_completed = row.i64();
  c.req_failed = row.i64();
  c.not_before = row.f64();
  c.creates = row.i32();
  c.updated_at = row.f64();
  c.offset = row.i64();
  c.ids_path = row.text();
  c.merged_succeeded = row.i64();
  c.merged_failed = row.i64();
  c.merged_retry = row.i64();
  c.merged_lost = row.i64();
  c.unsure_at = row.opt_f64();
  c.api_input_tokens = row.opt_i64();
  c.api_cached_tokens = row.opt_i64();
  c.api_output_tokens = row.opt_i64();
  c.usage_mismatch = row.flag();
  return c;
}

// "SET a = ?, b = ?" for the fields present, binding from index `first`.
struct update_sql {
  std::string set;
  std::vector<std::function<void(SQLite::Statement&, int)>> binds;
  template <class T>
  void add(const char* column, const std::optional<T>& v) {
    if (!v) return;
    set += std::string(", ") + column + " = ?";
    binds.push_back([v](SQLite::Statement& st, int i) { st.bind(i, *v); });
  }
};

update_sql fields_sql(const chunk_update& f) {
  update_sql u;
  u.add("file_id", f.file_id);
  u.add("batch_id", f.batch_id);
  u.add("batch_status", f.batch_status);
  u.add("output_file_id", f.output_file_id);
  u.add("error_file_id", f.error_file_id);
  u.add("error", f.error);
  u.add("req_total", f.req_total);
  u.add("req_completed", f.req_completed);
  u.add("req_failed", f.req_failed);
  u.add("not_before", f.not_before);
  u.add("creates", f.creates);
  u.add("merged_succeeded", f.merged_succeeded);
  u.add("merged_failed", f.merged_failed);
  u.add("merged_retry", f.merged_retry);
  u.add("merged_lost", f.merged_lost);
  u.add("unsure_at", f.unsure_at);
  if (f.clear_unsure) u.set += ", unsure_at = NULL";
  u.add("api_input_tokens", f.api_input_tokens);
  u.add("api_cached_tokens", f.api_cached_tokens);
  u.add("api_output_tokens", f.api_output_tokens);
  u.add("usage_mismatch", f.usage_mismatch);
  return u;
}

}  // namespace

std::int64_t sqlite_database::insert_chunk(const chunk_row& c, double now) {
  const auto ids = c.ids_path.empty() ? std::nullopt : std::optional(c.ids_path);
  execute(
      "INSERT INTO chunks (job_id, idx, attempt, stage, path, sha256, requests, bytes, est_tokens, not_before, "
      "updated_at, offset, ids_path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      c.job_id, c.idx, c.attempt, c.stage, c.path, c.sha256, c.requests, c.bytes, c.est_tokens, c.not_before, now,
      c.offset, ids);
  return sql().getLastInsertRowid();
}

std::optional<chunk_row> sqlite_database::chunk(std::int64_t id) {
  auto& q = statement(std::string("SELECT ") + chunk_columns + " FROM chunks WHERE id = ?");
  const statement_reset reset_after{q};
  q.bind(1, id);
  if (!q.executeStep()) return std::nullopt;
  return read_chunk(q);
}

std::vector<chunk_row> sqlite_database::chunks_of(std::int64_t job_id) {
  auto& q = statement(std::string("SELECT ") + chunk_columns +
                      " FROM chunks WHERE job_id = ? ORDER BY idx, attempt");
  const statement_reset reset_after{q};
  q.bind(1, job_id);
  std::vector<chunk_row> out;
  while (q.executeStep()) out.push_back(read_chunk(q));
  return out;
}

bool sqlite_database::move_chunk(std::int64_t id, const std::string& from, const std::string& to,
                                 const chunk_update& fields, double now) {
  auto u = fields_sql(fields);
  auto& q = statement("UPDATE chunks SET stage = ?, updated_at = ?" + u.set +
                      " WHERE id = ? AND stage = ?");
  const statement_reset reset_after{q};
  q.bind(1, to);
  q.bind(2, now);
  int i = 3;
  for (auto& b : u.binds) b(q, i++);
  q.bind(i++, id);
  q.bind(i, from);
  return q.exec() == 1;
}

void sqlite_database::update_chunk(std::int64_t id, const chunk_update& fields, double now) {
  auto u = fields_sql(fields);
  auto& q = statement("UPDATE chunks SET updated_at = ?" + u.set + " WHERE id = ?");
  const statement_reset reset_after{q};
  q.bind(1, now);
  int i = 2;
  for (auto& b : u.binds) b(q, i++);
  q.bind(i, id);
  q.exec();
}

std::map<std::string, std::int64_t> sqlite_database::batches_by_status() {
  return counts(
      "SELECT COALESCE(batch_status, 'unknown'), COUNT(*) FROM chunks WHERE batch_id IS NOT NULL GROUP BY 1");
}

usage_checks sqlite_database::usage_check_counts() {
  auto& q = statement(
      "SELECT COUNT(*), COALESCE(SUM(usage_mismatch), 0) FROM chunks "
      "WHERE stage = 'merged' AND api_input_tokens IS NOT NULL");
  const statement_reset reset_after{q};
  q.executeStep();
  return {q.getColumn(0).getInt64(), q.getColumn(1).getInt64()};
}

std::int64_t sqlite_database::tokens_in_flight(const std::string& model) {
  auto& q = statement(
      "SELECT COALESCE(SUM(c.est_tokens), 0) FROM chunks c JOIN jobs j ON j.id = c.job_id "
      "WHERE j.model = ? AND j.finished_at IS NULL AND c.stage IN ('creating', 'polling') "
      "AND COALESCE(c.batch_status, '') NOT IN ('completed', 'failed', 'expired', 'cancelled')");
  const statement_reset reset_after{q};
  q.bind(1, model);
  q.executeStep();
  return q.getColumn(0).getInt64();
}

}  // namespace batchd::store
