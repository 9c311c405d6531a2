// The ledger table: bookings, synchronous calls, sums.
#include "store/sqlite/sqlite_database.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include "store/sqlite/statements.hpp"

namespace batchd::store {
using namespace sqlite_detail;

bool sqlite_database::book(const ledger_entry& e, double now) {
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

std::int64_t sqlite_database::book_sync(const ledger_entry& e, double now) {
  if (!e.sync) throw std::invalid_argument("book_sync: not a synchronous call");
  book(e, now);
  return sql().getLastInsertRowid();
}

void sqlite_database::settle_sync(std::int64_t id, const ledger_entry& e) {
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

void sqlite_database::drop_sync(std::int64_t id) {
  auto& q = statement("DELETE FROM ledger WHERE id = ? AND kind = 'sync'");
  const statement_reset reset_after{q};
  q.bind(1, id);
  q.exec();
}

std::vector<ledger_sum> sqlite_database::ledger(const ledger_query& lq) {
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

}  // namespace batchd::store
