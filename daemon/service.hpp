#pragma once
// The running daemon: everything main() starts, owned in the order it is
// started, so it stops in the reverse order. Its constructor reads as the
// startup's steps — state lock, spool, store, clock, workers, API client,
// prices, pipeline, control socket, jobs resumed, inbox watched, signals,
// watchdog — and run() serves until SIGTERM. A SIGHUP reloads the config.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "daemon/config.hpp"
#include "daemon/control_api.hpp"
#include "daemon/control_server.hpp"
#include "daemon/notify.hpp"
#include "daemon/state_lock.hpp"
#include "io/clock.hpp"
#include "io/worker_pool.hpp"
#include "jobs/lifecycle/pipeline.hpp"
#include "openai/client.hpp"
#include "store/sqlite/sqlite_database.hpp"
#include "vectors/vector_queries.hpp"

namespace batchd::daemon {

class service {
 public:
  // `reload`: the config read again (the same flags, the file afresh).
  service(const config& cfg, std::string api_key, std::function<config_result()> reload);
  ~service();
  // READY=1, then serves until SIGTERM or SIGINT.
  void run();

 private:
  void open_control_socket();
  void resume_jobs();
  void watch_inbox();
  void handle_signals();
  void on_signal(int sig);
  // SIGHUP: the file read again; pipeline settings, prices, the budget and
  // the log level apply from the next step, the rest at the next start.
  void reload();
  void feed_watchdog();
  std::string status() const;

  const config cfg_;
  std::function<config_result()> read_config_;
  std::map<std::string, std::string> file_settings_;  // as last loaded, for what a reload changed
  notifier systemd_;
  state_lock one_daemon_;  // before anything else is touched
  jobs::spool dirs_;
  store::sqlite_database db_;
  io::clock clock_;
  boost::asio::io_context ioc_{1};
  io::worker_pool pool_;  // heavy file work and blocking syscalls, never on the loop
  openai::client api_;
  std::shared_ptr<const ledger::pricing_table> prices_;
  jobs::pipeline runner_;
  vectors::vector_queries vectors_;
  bool socket_from_systemd_ = false;
  std::filesystem::path socket_file_;  // ours to remove at exit (not systemd's)
  std::unique_ptr<control_server> control_;
  boost::asio::signal_set signals_{ioc_};
  bool stall_on_usr2_ = false;  // the boot test's watchdog hook
};

// The pricing table: the one built in from etc/pricing.json, overlaid row by
// row by the file when there is one (a broken one is an error).
std::shared_ptr<const ledger::pricing_table> load_prices(const std::filesystem::path& file);

// What the pipeline gets besides its config section.
jobs::pipeline_inputs pipeline_inputs_from(const config& cfg, std::shared_ptr<const ledger::pricing_table> prices);

// The daemon's clock at `scale`: the system clock at 1; else scaled from the
// origin the store keeps for this scale, made now (from the latest time the
// store holds, so it never goes back) when there is none.
io::clock clock_for(store::database& db, double scale);

}  // namespace batchd::daemon
