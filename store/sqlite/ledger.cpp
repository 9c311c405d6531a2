// The ledger table: bookings, synchronous calls, sums.
#include <SQLiteCpp/SQLiteCpp.h>

#include "store/sqlite/sqlite_database.hpp"
#include "store/sqlite/statements.hpp"

namespace batchd::store {
using namespace sqlite_detail;

bool sqlite_database::book(const ledger_entry& e, double now) {
  const auto chunk = e.sync ? std::nullopt : std::optional(e.chunk_id);  // NULL: a synchronous call has no chunk
  return execute(
             "INSERT OR IGNORE INTO ledger (job_id, chunk_id, model, booked_at, day, requests, prompt_tokens, "
             "cached_tokens, completion_tokens, batch_cost, regular_cost, kind, reasoning_tokens, "
             "cache_write_tokens, image_tokens, priced_as) "
             "VALUES (?, ?, ?, ?, strftime('%Y-%m-%d', ?, 'unixepoch'), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
             e.job_id, chunk, e.model, now, static_cast<std::int64_t>(now), e.requests, e.prompt_tokens,
             e.cached_tokens, e.completion_tokens, e.batch_cost, e.regular_cost,
             std::string(e.sync ? "sync" : "batch"), e.reasoning_tokens, e.cache_write_tokens, e.image_tokens,
             e.priced_as) == 1;
}

std::int64_t sqlite_database::book_sync(const ledger_entry& e, double now) {
  if (!e.sync) throw std::invalid_argument("book_sync: not a synchronous call");
  book(e, now);
  return sql().getLastInsertRowid();
}

void sqlite_database::settle_sync(std::int64_t id, const ledger_entry& e) {
  execute(
      "UPDATE ledger SET model = ?, requests = ?, prompt_tokens = ?, cached_tokens = ?, "
      "completion_tokens = ?, batch_cost = ?, regular_cost = ?, priced_as = ? WHERE id = ? AND kind = 'sync'",
      e.model, e.requests, e.prompt_tokens, e.cached_tokens, e.completion_tokens, e.batch_cost,
      e.regular_cost, e.priced_as, id);
}

void sqlite_database::drop_sync(std::int64_t id) {
  execute("DELETE FROM ledger WHERE id = ? AND kind = 'sync'", id);
}

std::vector<ledger_sum> sqlite_database::ledger(const ledger_query& lq) {
  std::string key = "'all'";
  if (lq.by == "day")
    key = "l.day";
  else if (lq.by == "month")
    key = "substr(l.day, 1, 7)";
  else if (lq.by == "model")
    key = "l.model";
  else if (lq.by == "job")
    key = "j.name";
  else if (lq.by == "chunk")
    key = "l.chunk_id";
  else if (lq.by != "all")
    throw std::invalid_argument("ledger: unknown grouping " + lq.by);
  // Only the conditions asked for, so SQLite can use the day and job indexes.
  std::string where;
  auto add = [&](const char* cond) {
    where += (where.empty() ? " WHERE " : " AND ") + std::string(cond);
  };
  if (lq.since) add("l.day >= :since");
  if (lq.until) add("l.day < :until");
  if (lq.job_id) add("l.job_id = :job");
  auto& q = statement(
      "SELECT " + key +
      ", SUM(l.requests), SUM(l.prompt_tokens), SUM(l.cached_tokens), "
      "SUM(l.completion_tokens), COALESCE(SUM(l.batch_cost), 0), COALESCE(SUM(l.regular_cost), 0), "
      "SUM(CASE WHEN l.batch_cost IS NULL THEN l.requests ELSE 0 END), "
      "SUM(CASE WHEN l.batch_cost IS NULL THEN 0 ELSE l.requests END), "
      "SUM(l.reasoning_tokens), SUM(l.cache_write_tokens), SUM(l.image_tokens), "
      "COALESCE(group_concat(DISTINCT l.priced_as), '') FROM ledger l" +
      std::string(lq.by == "job" ? " JOIN jobs j ON j.id = l.job_id" : "") + where +
      " GROUP BY 1 ORDER BY 1");
  const statement_reset reset_after{q};
  if (lq.since) q.bind(":since", *lq.since);
  if (lq.until) q.bind(":until", *lq.until);
  if (lq.job_id) q.bind(":job", *lq.job_id);
  std::vector<ledger_sum> out;
  while (q.executeStep()) {
    ledger_sum s;
    columns row(q);
    s.key = row.text();
    s.requests = row.i64();
    s.prompt_tokens = row.i64();
    s.cached_tokens = row.i64();
    s.completion_tokens = row.i64();
    s.batch_cost = row.i64();
    s.regular_cost = row.i64();
    s.unpriced_requests = row.i64();
    s.priced_requests = row.i64();
    s.reasoning_tokens = row.i64();
    s.cache_write_tokens = row.i64();
    s.image_tokens = row.i64();
    s.priced_as = row.text();
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace batchd::store
