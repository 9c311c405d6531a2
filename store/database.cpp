#include "store/database.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include "store/schema.hpp"

namespace batchd::store {
namespace {

template <class T>
void bind_opt(SQLite::Statement& st, int i, const std::optional<T>& v) {
  if (v) st.bind(i, *v);
  else st.bind(i);
}

std::optional<std::string> opt_text(const SQLite::Column& c) {
  if (c.isNull()) return std::nullopt;
  return c.getString();
}

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

constexpr const char* chunk_columns =
    "id, job_id, idx, attempt, stage, path, sha256, requests, bytes, est_tokens, file_id, "
    "batch_id, batch_status, output_file_id, error_file_id, error, req_total, req_completed, "
    "req_failed, not_before, creates, updated_at, offset, ids_path, merged_succeeded, merged_failed, merged_retry, merged_lost, unsure_at, "
    "api_input_tokens, api_cached_tokens, api_output_tokens, usage_mismatch";

chunk_row read_chunk(SQLite::Statement& q) {
  chunk_row c;
  c.id = q.getColumn(0).getInt64();
  c.job_id = q.getColumn(1).getInt64();
  c.idx = q.getColumn(2).getInt();
  c.attempt = q.getColumn(3).getInt();
  c.stage = q.getColumn(4).getString();
  c.path = q.getColumn(5).getString();
  c.sha256 = q.getColumn(6).getString();
  c.requests = q.getColumn(7).getInt64();
  c.bytes = q.getColumn(8).getInt64();
  c.est_tokens = q.getColumn(9).getInt64();
  c.file_id = opt_text(q.getColumn(10));
  c.batch_id = opt_text(q.getColumn(11));
  c.batch_status = opt_text(q.getColumn(12));
  c.output_file_id = opt_text(q.getColumn(13));
  c.error_file_id = opt_text(q.getColumn(14));
  c.error = opt_text(q.getColumn(15));
  c.req_total = q.getColumn(16).getInt64();
  c.req_completed = q.getColumn(17).getInt64();
  c.req_failed = q.getColumn(18).getInt64();
  c.not_before = q.getColumn(19).getDouble();
  c.creates = q.getColumn(20).getInt();
  c.updated_at = q.getColumn(21).getDouble();
  c.offset = q.getColumn(22).getInt64();
  c.ids_path = q.getColumn(23).isNull() ? "" : q.getColumn(23).getString();
  c.merged_succeeded = q.getColumn(24).getInt64();
  c.merged_failed = q.getColumn(25).getInt64();
  c.merged_retry = q.getColumn(26).getInt64();
  c.merged_lost = q.getColumn(27).getInt64();
  if (!q.getColumn(28).isNull()) c.unsure_at = q.getColumn(28).getDouble();
  if (!q.getColumn(29).isNull()) c.api_input_tokens = q.getColumn(29).getInt64();
  if (!q.getColumn(30).isNull()) c.api_cached_tokens = q.getColumn(30).getInt64();
  if (!q.getColumn(31).isNull()) c.api_output_tokens = q.getColumn(31).getInt64();
  c.usage_mismatch = q.getColumn(32).getInt() != 0;
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

// Resets a cached statement when the function using it returns, so no
// half-read SELECT keeps a read transaction open.
struct statement_reset {
  SQLite::Statement& q;
  ~statement_reset() { q.tryReset(); }
};

}  // namespace

void database::on_own_thread() const {
  if (std::this_thread::get_id() != owner_)
    throw std::logic_error("the database was used from a thread other than the one that opened it");
}

SQLite::Statement& database::statement(const std::string& sql) {
  on_own_thread();
  auto& slot = statements_[sql];
  if (!slot) slot = std::make_unique<SQLite::Statement>(*db_, sql);
  slot->tryReset();
  slot->clearBindings();
  return *slot;
}

database::database(const std::filesystem::path& file)
    : db_(std::make_unique<SQLite::Database>(file.string(),
                                             SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE)) {
  db_->exec("PRAGMA journal_mode = WAL");
  // FULL: a committed transition survives power loss, not only a crash,
  // before the paid call it enables is made.
  db_->exec("PRAGMA synchronous = FULL");
  db_->exec("PRAGMA foreign_keys = ON");
  db_->setBusyTimeout(5000);
  const int version = db_->execAndGet("PRAGMA user_version").getInt();
  if (version > static_cast<int>(migrations.size()))
    throw SQLite::Exception("database schema version " + std::to_string(version) +
                            " is newer than this batchd knows (" +
                            std::to_string(migrations.size()) + ")");
  // Foreign keys off while migrating: a table rebuild (SQLite's way to change
  // a constraint) drops the old table that others refer to by name.
  db_->exec("PRAGMA foreign_keys = OFF");
  for (int v = version; v < static_cast<int>(migrations.size()); ++v) {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    db_->exec(std::string(migrations[v]));
    SQLite::Statement broken(*db_, "PRAGMA foreign_key_check");
    if (broken.executeStep()) throw SQLite::Exception("migration " + std::to_string(v + 1) + " broke a foreign key");
    db_->exec("PRAGMA user_version = " + std::to_string(v + 1));
    tx.commit();
  }
  db_->exec("PRAGMA foreign_keys = ON");
}

database::~database() = default;

void database::transaction(const std::function<void()>& fn) {
  on_own_thread();
  SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
  fn();
  tx.commit();
}

std::string database::free_job_name(const std::string& base, const std::set<std::string>& reserved) {
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

std::int64_t database::insert_job(const std::string& name, const std::string& kind,
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

std::optional<job_row> database::job(std::int64_t id) {
  auto& q = statement(std::string("SELECT ") + job_columns + " FROM jobs WHERE id = ?");
  const statement_reset reset_after{q};
  q.bind(1, id);
  if (!q.executeStep()) return std::nullopt;
  return read_job(q);
}

std::optional<job_row> database::job_by_name(const std::string& name) {
  auto& q = statement(std::string("SELECT ") + job_columns + " FROM jobs WHERE name = ?");
  const statement_reset reset_after{q};
  q.bind(1, name);
  if (!q.executeStep()) return std::nullopt;
  return read_job(q);
}

std::vector<job_row> database::unfinished_jobs() {
  auto& q = statement(std::string("SELECT ") + job_columns +
                                " FROM jobs WHERE finished_at IS NULL ORDER BY id");
  const statement_reset reset_after{q};
  std::vector<job_row> out;
  while (q.executeStep()) out.push_back(read_job(q));
  return out;
}

std::vector<job_row> database::jobs_newest_first(std::int64_t limit, std::int64_t before_id,
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

std::map<std::string, std::int64_t> database::jobs_by_stage() {
  auto& q = statement("SELECT stage, COUNT(*) FROM jobs GROUP BY stage");
  const statement_reset reset_after{q};
  std::map<std::string, std::int64_t> out;
  while (q.executeStep()) out[q.getColumn(0).getString()] = q.getColumn(1).getInt64();
  return out;
}

std::map<std::string, std::int64_t> database::held_jobs_by_reason() {
  auto& q = statement("SELECT COALESCE(held_for, 'cost'), COUNT(*) FROM jobs WHERE stage = 'held' GROUP BY 1");
  const statement_reset reset_after{q};
  std::map<std::string, std::int64_t> out{{"cost", 0}, {"quota", 0}};
  while (q.executeStep()) out[q.getColumn(0).getString()] = q.getColumn(1).getInt64();
  return out;
}

std::map<std::string, std::int64_t> database::batches_by_status() {
  auto& q = statement("SELECT COALESCE(batch_status, 'unknown'), COUNT(*) FROM chunks "
                      "WHERE batch_id IS NOT NULL GROUP BY 1");
  const statement_reset reset_after{q};
  std::map<std::string, std::int64_t> out;
  while (q.executeStep()) out[q.getColumn(0).getString()] = q.getColumn(1).getInt64();
  return out;
}

usage_checks database::usage_check_counts() {
  auto& q = statement("SELECT COUNT(*), COALESCE(SUM(usage_mismatch), 0) FROM chunks "
                      "WHERE stage = 'merged' AND api_input_tokens IS NOT NULL");
  const statement_reset reset_after{q};
  q.executeStep();
  return {q.getColumn(0).getInt64(), q.getColumn(1).getInt64()};
}

bool database::move_job(std::int64_t id, const std::string& from, const std::string& to,
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

void database::set_job_request(std::int64_t id, const std::string& endpoint,
                               const std::string& model, std::int64_t total) {
  auto& q = statement("UPDATE jobs SET endpoint = ?, model = ?, total = ? WHERE id = ?");
  const statement_reset reset_after{q};
  q.bind(1, endpoint);
  q.bind(2, model);
  q.bind(3, total);
  q.bind(4, id);
  q.exec();
}

void database::set_job_counts(std::int64_t id, std::int64_t succeeded, std::int64_t failed) {
  auto& q = statement("UPDATE jobs SET succeeded = ?, failed = ? WHERE id = ?");
  const statement_reset reset_after{q};
  q.bind(1, succeeded);
  q.bind(2, failed);
  q.bind(3, id);
  q.exec();
}

void database::add_job_counts(std::int64_t id, std::int64_t succeeded, std::int64_t failed) {
  auto& q = statement("UPDATE jobs SET succeeded = succeeded + ?, failed = failed + ? WHERE id = ?");
  const statement_reset reset_after{q};
  q.bind(1, succeeded);
  q.bind(2, failed);
  q.bind(3, id);
  q.exec();
}

void database::set_job_spec(std::int64_t id, const std::string& spec) {
  auto& q = statement("UPDATE jobs SET spec = ? WHERE id = ?");
  const statement_reset reset_after{q};
  q.bind(1, spec);
  q.bind(2, id);
  q.exec();
}

void database::set_step_error(std::int64_t id, const std::string& error, int failures, double retry_at) {
  auto& q = statement("UPDATE jobs SET last_error = ?, step_failures = ?, retry_at = ? WHERE id = ?");
  const statement_reset reset_after{q};
  q.bind(1, error);
  q.bind(2, failures);
  q.bind(3, retry_at);
  q.bind(4, id);
  q.exec();
}

void database::clear_step_error(std::int64_t id) {
  auto& q = statement("UPDATE jobs SET last_error = NULL, step_failures = 0, retry_at = NULL "
                      "WHERE id = ? AND (step_failures > 0 OR retry_at IS NOT NULL)");
  const statement_reset reset_after{q};
  q.bind(1, id);
  q.exec();
}

std::vector<job_row> database::finished_jobs_due(double now) {
  auto& q = statement(std::string("SELECT ") + job_columns +
                      " FROM jobs WHERE retry_at IS NOT NULL AND finished_at IS NOT NULL AND retry_at <= ? ORDER BY id");
  const statement_reset reset_after{q};
  q.bind(1, now);
  std::vector<job_row> out;
  while (q.executeStep()) out.push_back(read_job(q));
  return out;
}

void database::request_cancel(std::int64_t id) {
  auto& q = statement("UPDATE jobs SET cancel_requested = 1 WHERE id = ?");
  const statement_reset reset_after{q};
  q.bind(1, id);
  q.exec();
}

void database::set_job_estimate(std::int64_t id, std::int64_t input_tokens, std::int64_t output_tokens) {
  auto& q = statement("UPDATE jobs SET est_input_tokens = ?, est_output_tokens = ? WHERE id = ?");
  const statement_reset reset_after{q};
  q.bind(1, input_tokens);
  q.bind(2, output_tokens);
  q.bind(3, id);
  q.exec();
}

void database::set_job_max_cost(std::int64_t id, std::optional<std::int64_t> pico_usd) {
  auto& q = statement("UPDATE jobs SET max_cost = ? WHERE id = ?");
  const statement_reset reset_after{q};
  bind_opt(q, 1, pico_usd);
  q.bind(2, id);
  q.exec();
}

void database::set_hold(std::int64_t id, const std::optional<std::string>& reason, const std::string& held_for,
                        std::optional<double> look_again_at) {
  auto& q = statement("UPDATE jobs SET hold_reason = ?, held_for = ?, look_again_at = ? WHERE id = ?");
  const statement_reset reset_after{q};
  bind_opt(q, 1, reason);
  bind_opt(q, 2, reason ? std::optional<std::string>(held_for) : std::nullopt);
  bind_opt(q, 3, reason ? look_again_at : std::nullopt);
  q.bind(4, id);
  q.exec();
}

void database::set_look_again_at(std::int64_t id, double at) {
  auto& q = statement("UPDATE jobs SET look_again_at = ? WHERE id = ? AND look_again_at IS NOT NULL");
  const statement_reset reset_after{q};
  q.bind(1, at);
  q.bind(2, id);
  q.exec();
}

void database::release_job(std::int64_t id) {
  auto& q = statement("UPDATE jobs SET released = 1 WHERE id = ?");
  const statement_reset reset_after{q};
  q.bind(1, id);
  q.exec();
}

bool database::book(const ledger_entry& e, double now) {
  auto& q = statement("INSERT OR IGNORE INTO ledger (job_id, chunk_id, model, booked_at, day, requests, "
                      "prompt_tokens, cached_tokens, completion_tokens, batch_cost, regular_cost, kind) "
                      "VALUES (?, ?, ?, ?, strftime('%Y-%m-%d', ?, 'unixepoch'), ?, ?, ?, ?, ?, ?, ?)");
  const statement_reset reset_after{q};
  q.bind(1, e.job_id);
  if (e.sync) q.bind(2);  // NULL: no chunk
  else q.bind(2, e.chunk_id);
  q.bind(12, e.sync ? "sync" : "batch");
  q.bind(3, e.model);
  q.bind(4, now);
  q.bind(5, static_cast<std::int64_t>(now));
  q.bind(6, e.requests);
  q.bind(7, e.prompt_tokens);
  q.bind(8, e.cached_tokens);
  q.bind(9, e.completion_tokens);
  bind_opt(q, 10, e.batch_cost);
  bind_opt(q, 11, e.regular_cost);
  return q.exec() == 1;
}

std::int64_t database::book_sync(const ledger_entry& e, double now) {
  if (!e.sync) throw std::invalid_argument("book_sync: not a synchronous call");
  book(e, now);
  return sql().getLastInsertRowid();
}

void database::settle_sync(std::int64_t id, const ledger_entry& e) {
  auto& q = statement("UPDATE ledger SET model = ?, requests = ?, prompt_tokens = ?, cached_tokens = ?, "
                      "completion_tokens = ?, batch_cost = ?, regular_cost = ? WHERE id = ? AND kind = 'sync'");
  const statement_reset reset_after{q};
  q.bind(1, e.model);
  q.bind(2, e.requests);
  q.bind(3, e.prompt_tokens);
  q.bind(4, e.cached_tokens);
  q.bind(5, e.completion_tokens);
  bind_opt(q, 6, e.batch_cost);
  bind_opt(q, 7, e.regular_cost);
  q.bind(8, id);
  q.exec();
}

void database::drop_sync(std::int64_t id) {
  auto& q = statement("DELETE FROM ledger WHERE id = ? AND kind = 'sync'");
  const statement_reset reset_after{q};
  q.bind(1, id);
  q.exec();
}

std::vector<ledger_sum> database::ledger(const ledger_query& lq) {
  std::string key = "'all'";
  if (lq.by == "day") key = "l.day";
  else if (lq.by == "month") key = "substr(l.day, 1, 7)";
  else if (lq.by == "model") key = "l.model";
  else if (lq.by == "job") key = "j.name";
  else if (lq.by == "chunk") key = "l.chunk_id";
  else if (lq.by != "all") throw std::invalid_argument("ledger: unknown grouping " + lq.by);
  // Only the conditions asked for, so SQLite can use the day and job indexes.
  std::string where;
  auto add = [&](const char* cond) { where += (where.empty() ? " WHERE " : " AND ") + std::string(cond); };
  if (lq.since) add("l.day >= :since");
  if (lq.until) add("l.day < :until");
  if (lq.job_id) add("l.job_id = :job");
  auto& q = statement("SELECT " + key + ", SUM(l.requests), SUM(l.prompt_tokens), SUM(l.cached_tokens), "
                      "SUM(l.completion_tokens), COALESCE(SUM(l.batch_cost), 0), COALESCE(SUM(l.regular_cost), 0), "
                      "SUM(CASE WHEN l.batch_cost IS NULL THEN l.requests ELSE 0 END), "
                      "SUM(CASE WHEN l.batch_cost IS NULL THEN 0 ELSE l.requests END) FROM ledger l" +
                          std::string(lq.by == "job" ? " JOIN jobs j ON j.id = l.job_id" : "") + where +
                          " GROUP BY 1 ORDER BY 1");
  const statement_reset reset_after{q};
  if (lq.since) q.bind(":since", *lq.since);
  if (lq.until) q.bind(":until", *lq.until);
  if (lq.job_id) q.bind(":job", *lq.job_id);
  std::vector<ledger_sum> out;
  while (q.executeStep()) {
    ledger_sum s;
    s.key = q.getColumn(0).getString();
    s.requests = q.getColumn(1).getInt64();
    s.prompt_tokens = q.getColumn(2).getInt64();
    s.cached_tokens = q.getColumn(3).getInt64();
    s.completion_tokens = q.getColumn(4).getInt64();
    s.batch_cost = q.getColumn(5).getInt64();
    s.regular_cost = q.getColumn(6).getInt64();
    s.unpriced_requests = q.getColumn(7).getInt64();
    s.priced_requests = q.getColumn(8).getInt64();
    out.push_back(std::move(s));
  }
  return out;
}

std::int64_t database::insert_chunk(const chunk_row& c, double now) {
  auto& q = statement("INSERT INTO chunks (job_id, idx, attempt, stage, path, sha256, requests, "
                      "bytes, est_tokens, not_before, updated_at, offset, ids_path) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  const statement_reset reset_after{q};
  q.bind(1, c.job_id);
  q.bind(2, c.idx);
  q.bind(3, c.attempt);
  q.bind(4, c.stage);
  q.bind(5, c.path);
  q.bind(6, c.sha256);
  q.bind(7, c.requests);
  q.bind(8, c.bytes);
  q.bind(9, c.est_tokens);
  q.bind(10, c.not_before);
  q.bind(11, now);
  q.bind(12, c.offset);
  if (c.ids_path.empty()) q.bind(13);
  else q.bind(13, c.ids_path);
  q.exec();
  return db_->getLastInsertRowid();
}

std::optional<chunk_row> database::chunk(std::int64_t id) {
  auto& q = statement(std::string("SELECT ") + chunk_columns + " FROM chunks WHERE id = ?");
  const statement_reset reset_after{q};
  q.bind(1, id);
  if (!q.executeStep()) return std::nullopt;
  return read_chunk(q);
}

std::vector<chunk_row> database::chunks_of(std::int64_t job_id) {
  auto& q = statement(std::string("SELECT ") + chunk_columns +
                                " FROM chunks WHERE job_id = ? ORDER BY idx, attempt");
  const statement_reset reset_after{q};
  q.bind(1, job_id);
  std::vector<chunk_row> out;
  while (q.executeStep()) out.push_back(read_chunk(q));
  return out;
}

bool database::move_chunk(std::int64_t id, const std::string& from, const std::string& to,
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

void database::update_chunk(std::int64_t id, const chunk_update& fields, double now) {
  auto u = fields_sql(fields);
  auto& q = statement("UPDATE chunks SET updated_at = ?" + u.set + " WHERE id = ?");
  const statement_reset reset_after{q};
  q.bind(1, now);
  int i = 2;
  for (auto& b : u.binds) b(q, i++);
  q.bind(i, id);
  q.exec();
}

std::int64_t database::tokens_in_flight(const std::string& model) {
  auto& q = statement("SELECT COALESCE(SUM(c.est_tokens), 0) FROM chunks c JOIN jobs j ON j.id = c.job_id "
                      "WHERE j.model = ? AND j.finished_at IS NULL AND c.stage IN ('creating', 'polling') "
                      "AND COALESCE(c.batch_status, '') NOT IN ('completed', 'failed', 'expired', 'cancelled')");
  const statement_reset reset_after{q};
  q.bind(1, model);
  q.executeStep();
  return q.getColumn(0).getInt64();
}

double database::latest_time() {
  auto& q = statement("SELECT MAX(COALESCE((SELECT MAX(at) FROM events), 0), "
                      "COALESCE((SELECT MAX(updated_at) FROM chunks), 0), "
                      "COALESCE((SELECT MAX(created_at) FROM jobs), 0))");
  const statement_reset reset_after{q};
  q.executeStep();
  return q.getColumn(0).getDouble();
}

std::optional<database::clock_origin_row> database::clock_origin(double scale) {
  auto& q = statement("SELECT clock, real FROM clock_origins WHERE scale = ?");
  const statement_reset reset_after{q};
  q.bind(1, scale);
  if (!q.executeStep()) return std::nullopt;
  return clock_origin_row{q.getColumn(0).getDouble(), q.getColumn(1).getDouble()};
}

void database::set_clock_origin(double scale, double clock, double real) {
  auto& q = statement("INSERT OR REPLACE INTO clock_origins (scale, clock, real) VALUES (?, ?, ?)");
  const statement_reset reset_after{q};
  q.bind(1, scale);
  q.bind(2, clock);
  q.bind(3, real);
  q.exec();
}

void database::add_event(std::optional<std::int64_t> job_id, std::optional<std::int64_t> chunk_id,
                         const std::string& message, double now) {
  auto& q = statement("INSERT INTO events (at, job_id, chunk_id, message) VALUES (?, ?, ?, ?)");
  const statement_reset reset_after{q};
  q.bind(1, now);
  bind_opt(q, 2, job_id);
  bind_opt(q, 3, chunk_id);
  q.bind(4, message);
  q.exec();
}

}  // namespace batchd::store
