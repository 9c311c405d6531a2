// batchd: takes batch work dropped into inbox/, runs it on the OpenAI Batch
// API, and puts results into outbox/. See README.md and DESIGN.md.
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iostream>
#include <thread>
#include <sys/prctl.h>
#include <unistd.h>

#include "openai/client.hpp"
#include "daemon/config.hpp"
#include "daemon/control_api.hpp"
#include "daemon/control_server.hpp"
#include "store/sqlite/sqlite_database.hpp"
#include "daemon/inbox_watcher.hpp"
#include "jobs/intake/intake.hpp"
#include "daemon/logging.hpp"
#include "daemon/notify.hpp"
#include "jobs/lifecycle/pipeline.hpp"
#include "daemon/state_lock.hpp"
#include "vectors/vector_queries.hpp"

namespace {

// What the pipeline gets besides its config section.
batchd::jobs::pipeline_inputs pipeline_inputs_from(const batchd::daemon::config& cfg,
                                                   std::shared_ptr<const batchd::ledger::pricing_table> prices) {
  batchd::jobs::pipeline_inputs in;
  in.prices = std::move(prices);
  if (const char* crash = std::getenv("BATCHD_CRASH_AT")) in.crash_at = crash;  // crash tests only
  if (!cfg.daily_budget_usd.empty()) in.spending.daily = batchd::ledger::parse_usd(cfg.daily_budget_usd);
  return in;
}

// The pricing table: the file when there is one (a broken one is an error),
// else the table built in from etc/pricing.json.
std::shared_ptr<const batchd::ledger::pricing_table> load_prices(const std::filesystem::path& file) {
  const bool have_file = std::filesystem::exists(file);
  auto table = std::make_shared<batchd::ledger::pricing_table>(have_file ? batchd::ledger::pricing_table::load(file)
                                                                      : batchd::ledger::pricing_table::builtin());
  spdlog::info("pricing: {} model(s) from {} (as of {}){}, batch discount {}%", table->models.size(),
               table->origin, table->as_of, have_file ? "" : ", no file at " + file.string(),
               table->batch_discount_percent);
  return table;
}

// The daemon's clock at `scale`: the system clock at 1; else scaled from the
// origin the store keeps for this scale, made now (from the latest time the
// store holds, so it never goes back) when there is none.
batchd::io::clock clock_for(batchd::store::database& db, double scale) {
  using batchd::io::clock;
  if (scale == 1) return clock();
  if (const auto o = db.clock_origin(scale)) return clock(scale, o->clock, o->real);
  const double real = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const double start = std::max(real, db.latest_time());
  db.set_clock_origin(scale, start, real);
  return clock(scale, start, real);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace batchd;
  auto loaded = daemon::load_config(argc, argv);
  if (loaded.exit_now) return loaded.exit_code;
  if (!loaded.value) {
    for (const auto& p : loaded.problems) std::cerr << "batchd: " << p << "\n";
    return 2;
  }
  const auto cfg = *loaded.value;
  // No core dump, and no ptrace by the same user, may read the key from memory.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  daemon::setup_logging(cfg.log_level);
  daemon::notifier systemd;

  const auto key = daemon::read_api_key(cfg.api);
  if (key.empty()) {
    std::cerr << "batchd: no API key: set --api-key-file, OPENAI_API_KEY, or the systemd credential "
                 "openai-api-key\n";
    return 2;
  }
  try {
    daemon::state_lock one_daemon(cfg.state);  // before anything else is touched
    const auto dirs = jobs::spool::under(cfg.spool, cfg.state);
    dirs.create_all();
    store::sqlite_database db(cfg.state / "batchd.db");
    // A scaled clock goes on from its origin in the store, as if it had run all along.
    const auto clk = clock_for(db, cfg.time_scale);

    boost::asio::io_context ioc(1);
    // Heavy file work and blocking syscalls go here, never on the loop.
    io::worker_pool pool(cfg.pipeline.workers > 0 ? static_cast<std::size_t>(cfg.pipeline.workers)
                                                    : std::max<std::size_t>(2, std::thread::hardware_concurrency()));
    openai::client_config api_cfg = cfg.api;
    api_cfg.api_key = key;
    api_cfg.time_scale = cfg.time_scale;  // Retry-After and backoff are API time
    api_cfg.offload = [&pool](std::function<void()> f) { return pool.run(f); };
    openai::client api(ioc.get_executor(), api_cfg);

    // Tests: a move the stage table forbids aborts instead of being refused.
    if (const char* strict = std::getenv("BATCHD_STRICT_MOVES"); strict && *strict == '1')
      jobs::job_transitions::set_strict(true);
    auto prices = load_prices(cfg.pricing);
    jobs::pipeline runner(ioc.get_executor(), db, dirs, api, clk, pool, cfg.pipeline, pipeline_inputs_from(cfg, prices));

    // The control socket: refuses to start beside a live daemon on the same socket.
    bool socket_from_systemd = false;
    const daemon::control_socket_options sock_opt{cfg.socket, cfg.control.group,
                                                  static_cast<mode_t>(std::stoul(cfg.control.mode, nullptr, 8))};
    const int listen_fd = daemon::open_control_socket(sock_opt, socket_from_systemd);
    std::unique_ptr<daemon::control_server> control;
    daemon::control_server_options copt;
    copt.max_connections = static_cast<std::size_t>(cfg.control.max_connections);
    copt.max_header_bytes = static_cast<std::uint32_t>(cfg.control.max_header_bytes);
    copt.max_body_bytes = static_cast<std::uint64_t>(cfg.control.max_body_bytes);
    copt.request_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(cfg.control.timeout_s * 1000));
    const auto group_gid = daemon::group_id(cfg.control.group);  // once: a look-up, not for the loop
    copt.body_limit = [max = copt.max_body_bytes, group = group_gid](
                          const std::string& method, const std::string& target, const daemon::peer_credentials& peer) {
      return daemon::control_body_limit(method, target, peer, group, max);
    };
    vectors::vector_queries vectors(db, pool, api, [&runner] { return runner.prices(); }, clk);
    daemon::control_context control_ctx{db, runner, dirs, api, clk, group_gid, cfg.api.base_url,
                                        [&] { return control ? control->connections() : std::size_t{0}; }};
    control_ctx.vectors = &vectors;
    control_ctx.pool = &pool;
    control = std::make_unique<daemon::control_server>(ioc.get_executor(), listen_fd, copt,
                                                       daemon::make_control_api(control_ctx));
    struct remove_socket_file {
      std::filesystem::path path;
      ~remove_socket_file() {
        if (!path.empty()) ::unlink(path.c_str());
      }
    } socket_file{socket_from_systemd ? std::filesystem::path() : cfg.socket};

    if (int n = jobs::adopt_orphans(db, dirs, clk.now())) spdlog::info("adopted {} job(s) moved in before a crash", n);
    runner.resume_all();

    // The inbox's entrance to the one intake (the socket's is POST /v1/jobs).
    auto on_file = [&](const std::filesystem::path& file, bool settled) {
      boost::asio::co_spawn(ioc, runner.take(file, std::nullopt, settled), [&dirs, file](std::exception_ptr e, jobs::pipeline::taken t) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            // The file stays in inbox/; the next rescan tries again.
            spdlog::error("could not take {}: {}", file.string(), ex.what());
          }
        } else if (!t.job_id && t.rejection) {
          spdlog::warn("refused {}: see {}", file.filename().string(), dirs.rejected.string());
        }
      });
    };
    boost::asio::co_spawn(ioc, daemon::watch_inbox(dirs.inbox, on_file, clk.real(cfg.pipeline.rescan_s)),
                          [](std::exception_ptr e) {
                            if (e) std::rethrow_exception(e);
                          });

    // Every transition is committed before the work it enables, so stopping
    // at any await leaves a state the next start resumes from.
    boost::asio::signal_set signals(ioc, SIGINT, SIGTERM, SIGHUP);
    // Boot test only: SIGUSR2 blocks the event loop, for the watchdog to catch.
    const char* stall_hook = std::getenv("BATCHD_TEST_STALL_ON_SIGUSR2");
    const bool stall_on_usr2 = stall_hook && *stall_hook == '1';
    if (stall_on_usr2) signals.add(SIGUSR2);
    auto file_settings = cfg.file_settings;
    std::function<void(const boost::system::error_code&, int)> on_signal = [&](const auto& ec, int sig) {
      if (ec) return;
      if (sig == SIGUSR2 && stall_on_usr2) {
        spdlog::warn("SIGUSR2: stalling the event loop on purpose (BATCHD_TEST_STALL_ON_SIGUSR2)");
        for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
      }
      if (sig == SIGHUP) {
        // Reload: the same flags, the file read again. Pipeline settings, prices,
        // the budget and the log level apply from the next step on; the rest
        // (needs_restart) at the next start, and the log says so.
        systemd.send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch()).count()));
        auto again = daemon::load_config(argc, argv);
        if (!again.value) {
          for (const auto& p : again.problems) spdlog::error("SIGHUP: {}; keeping the running configuration", p);
        } else {
          spdlog::set_level(spdlog::level::from_str(again.value->log_level));
          try {
            prices = load_prices(again.value->pricing);
          } catch (const std::exception& e) {
            spdlog::error("SIGHUP: {}; keeping the prices in use", e.what());
          }
          runner.set_config(again.value->pipeline, pipeline_inputs_from(*again.value, prices));
          if (const int n = runner.resume_quota_holds())
            spdlog::info("SIGHUP: {} job(s) held for quota ask the API again", n);
          std::string later;
          for (const auto& k : daemon::needs_restart(cfg.file_settings, again.value->file_settings))
            later += (later.empty() ? "" : ", ") + k;
          if (!later.empty()) spdlog::warn("SIGHUP: {} changed; that takes effect at the next start", later);
          const auto changes = daemon::setting_changes(file_settings, again.value->file_settings);
          file_settings = again.value->file_settings;
          std::string what;
          for (const auto& c : changes) what += (what.empty() ? "" : "; ") + c;
          spdlog::info("SIGHUP: configuration reloaded from {}: {}", cfg.config_file.empty() ? "flags only" : cfg.config_file.string(),
                       changes.empty() ? "no setting changed" : what);
        }
        systemd.send("READY=1");
        signals.async_wait(on_signal);
        return;
      }
      systemd.send("STOPPING=1");
      spdlog::info("stopping");
      ioc.stop();
    };
    signals.async_wait(on_signal);
    // The watchdog is fed from the event loop, so a stuck loop is caught.
    auto status = [&] { return "STATUS=" + std::to_string(runner.running()) + " job(s) running"; };
    boost::asio::co_spawn(ioc, [&]() -> boost::asio::awaitable<void> {
      boost::asio::steady_timer t(ioc);
      const auto every = systemd.watchdog_interval().value_or(std::chrono::seconds(5));
      for (int tick = 0;; ++tick) {
        t.expires_after(std::min<std::chrono::steady_clock::duration>(every, std::chrono::seconds(5)));
        co_await t.async_wait(boost::asio::use_awaitable);
        std::string msg = systemd.watchdog_interval() ? "WATCHDOG=1\n" : "";
        systemd.send(msg + status());
      }
    }, boost::asio::detached);
    // READY=1 only now: in-flight work is resumed and signals are handled.
    systemd.send("READY=1\nSTATUS=" + std::to_string(runner.running()) + " job(s) resumed, watching " +
                 dirs.inbox.string());
    spdlog::info("batchd {} started: spool {}, state {}, socket {}{}, {} job(s) resumed", BATCHD_VERSION,
                 cfg.spool.string(), cfg.state.string(), cfg.socket.string(),
                 socket_from_systemd ? " (from systemd)" : "", runner.running());
    ioc.run();
  } catch (const std::exception& e) {
    spdlog::critical("batchd: {}", e.what());
    return 1;
  }
  return 0;
}
