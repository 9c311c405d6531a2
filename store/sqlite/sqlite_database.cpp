// Opening and migrating the SQLite file, transactions, the statement cache, events and time.
#include "store/sqlite/sqlite_database.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include "store/sqlite/schema.hpp"
#include "store/sqlite/statements.hpp"

namespace batchd::store {
using namespace sqlite_detail;

sqlite_database::sqlite_database(const std::filesystem::path& file)
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
    if (broken.executeStep())
      throw SQLite::Exception("migration " + std::to_string(v + 1) + " broke a foreign key");
    db_->exec("PRAGMA user_version = " + std::to_string(v + 1));
    tx.commit();
  }
  db_->exec("PRAGMA foreign_keys = ON");
}

sqlite_database::~sqlite_database() = default;

void sqlite_database::on_own_thread() const {
  if (std::this_thread::get_id() != owner_)
    throw std::logic_error("the database was used from a thread other than the one that opened it");
}

SQLite::Statement& sqlite_database::statement(const std::string& sql) {
  on_own_thread();
  auto& slot = statements_[sql];
  if (!slot) slot = std::make_unique<SQLite::Statement>(*db_, sql);
  slot->tryReset();
  slot->clearBindings();
  return *slot;
}

std::map<std::string, std::int64_t> sqlite_database::counts(const std::string& sql,
                                                           std::map<std::string, std::int64_t> out) {
  auto& q = statement(sql);
  const statement_reset reset_after{q};
  while (q.executeStep()) out[q.getColumn(0).getString()] = q.getColumn(1).getInt64();
  return out;
}

void sqlite_database::transaction(const std::function<void()>& fn) {
  on_own_thread();
  SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
  fn();
  tx.commit();
}

double sqlite_database::latest_time() {
  auto& q = statement(
      "SELECT MAX(COALESCE((SELECT MAX(at) FROM events), 0), "
      "COALESCE((SELECT MAX(updated_at) FROM chunks), 0), "
      "COALESCE((SELECT MAX(created_at) FROM jobs), 0))");
  const statement_reset reset_after{q};
  q.executeStep();
  return q.getColumn(0).getDouble();
}

std::optional<store::clock_origin> sqlite_database::clock_origin(double scale) {
  auto& q = statement("SELECT clock, real FROM clock_origins WHERE scale = ?");
  const statement_reset reset_after{q};
  q.bind(1, scale);
  if (!q.executeStep()) return std::nullopt;
  return store::clock_origin{q.getColumn(0).getDouble(), q.getColumn(1).getDouble()};
}

void sqlite_database::set_clock_origin(double scale, double clock, double real) {
  execute("INSERT OR REPLACE INTO clock_origins (scale, clock, real) VALUES (?, ?, ?)", scale,
          clock, real);
}

void sqlite_database::add_event(std::optional<std::int64_t> job_id,
                                std::optional<std::int64_t> chunk_id, const std::string& message,
                                double now) {
  execute("INSERT INTO events (at, job_id, chunk_id, message) VALUES (?, ?, ?, ?)", now, job_id,
          chunk_id, message);
}

}  // namespace batchd::store
