#pragma once
// The default store: one SQLite file (WAL, synchronous FULL), its schema as
// migrations by user_version (schema.hpp), prepared statements cached and
// reused. Its queries live a file a table: jobs.cpp, chunks.cpp, ledger.cpp;
// opening, migrating, transactions, events and time in sqlite_database.cpp.
#include <filesystem>
#include <memory>
#include <thread>

#include "store/database.hpp"

namespace SQLite {
class Database;
class Statement;
}  // namespace SQLite

namespace batchd::store {

class sqlite_database final : public database {
 public:
  // Opens (creating if needed) and migrates to the current schema. Throws
  // SQLite::Exception, also for a schema newer than this batchd knows.
  explicit sqlite_database(const std::filesystem::path& file);
  ~sqlite_database() override;

  // The interface (database.hpp) says what each does.
  void transaction(const std::function<void()>& fn) override;

  // ---- jobs
  std::string free_job_name(const std::string& base,
                            const std::set<std::string>& reserved) override;
  std::int64_t insert_job(const std::string& name, const std::string& kind,
                          const std::string& source, double now) override;
  std::optional<job_row> job(std::int64_t id) override;
  std::optional<job_row> job_by_name(const std::string& name) override;
  std::vector<job_row> unfinished_jobs() override;
  std::vector<job_row> jobs_newest_first(std::int64_t limit, std::int64_t before_id,
                                         const std::vector<std::string>& stages) override;
  std::map<std::string, std::int64_t> jobs_by_stage() override;
  std::map<std::string, std::int64_t> held_jobs_by_reason() override;
  std::map<std::string, std::int64_t> batches_by_status() override;
  bool move_job(std::int64_t id, const std::string& from, const std::string& to, double now,
                const std::optional<std::string>& error) override;
  void add_job_counts(std::int64_t id, std::int64_t succeeded, std::int64_t failed) override;
  void set_job_spec(std::int64_t id, const std::string& spec) override;
  void set_step_error(std::int64_t id, const std::string& error, int failures,
                      double retry_at) override;
  void clear_step_error(std::int64_t id) override;
  std::vector<job_row> finished_jobs_due(double now) override;
  void set_job_request(std::int64_t id, const std::string& endpoint, const std::string& model,
                       std::int64_t total) override;
  void set_job_counts(std::int64_t id, std::int64_t succeeded, std::int64_t failed) override;
  void request_cancel(std::int64_t id) override;
  void set_job_estimate(std::int64_t id, std::int64_t input_tokens,
                        std::int64_t output_tokens) override;
  void set_job_max_cost(std::int64_t id, std::optional<std::int64_t> pico_usd) override;
  void set_hold(std::int64_t id, const std::optional<std::string>& reason,
                const std::string& held_for, std::optional<double> look_again_at) override;
  void set_look_again_at(std::int64_t id, double at) override;
  void release_job(std::int64_t id) override;
  void set_job_warnings(std::int64_t id, const std::string& warnings) override;

  // ---- ledger
  bool book(const ledger_entry& e, double now) override;
  std::int64_t book_sync(const ledger_entry& e, double now) override;
  void settle_sync(std::int64_t id, const ledger_entry& e) override;
  void drop_sync(std::int64_t id) override;
  std::vector<ledger_sum> ledger(const ledger_query& q) override;

  // ---- chunks
  std::int64_t insert_chunk(const chunk_row& c, double now) override;
  std::optional<chunk_row> chunk(std::int64_t id) override;
  std::vector<chunk_row> chunks_of(std::int64_t job_id) override;
  bool move_chunk(std::int64_t id, const std::string& from, const std::string& to,
                  const chunk_update& fields, double now) override;
  void update_chunk(std::int64_t id, const chunk_update& fields, double now) override;
  usage_checks usage_check_counts() override;
  std::int64_t tokens_in_flight(const std::string& model) override;

  double latest_time() override;
  std::optional<store::clock_origin> clock_origin(double scale) override;
  void set_clock_origin(double scale, double clock, double real) override;

  // ---- events
  void add_event(std::optional<std::int64_t> job_id, std::optional<std::int64_t> chunk_id,
                 const std::string& message, double now) override;

  // For tests: the connection itself.
  SQLite::Database& sql() { return *db_; }

 private:
  // Prepared once, reused: preparing costs more than running most of these.
  // Returned reset and with no bindings.
  SQLite::Statement& statement(const std::string& sql);
  // Runs `sql` with `args` bound to ?1, ?2, … (an empty optional as NULL);
  // returns the rows it changed. Defined in statements.hpp.
  template <class... A>
  int execute(const std::string& sql, const A&... args);
  // A "key, count" query as a map, from `out` (keys that must show even at 0).
  std::map<std::string, std::int64_t> counts(const std::string& sql, std::map<std::string, std::int64_t> out = {});
  void on_own_thread() const;

  std::unique_ptr<SQLite::Database> db_;
  std::map<std::string, std::unique_ptr<SQLite::Statement>> statements_;
  std::thread::id owner_ = std::this_thread::get_id();
};

}  // namespace batchd::store
