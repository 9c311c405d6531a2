#include "daemon/service.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <thread>

#include "daemon/control_socket.hpp"
#include "daemon/inbox_watcher.hpp"
#include "jobs/intake/intake.hpp"

namespace batchd::daemon {
namespace asio = boost::asio;

namespace {

jobs::spool spool_of(const config& cfg) {
  auto dirs = jobs::spool::under(cfg.spool, cfg.state);
  dirs.create_all();
  return dirs;
}

std::size_t workers_of(const config& cfg) {
  return cfg.pipeline.workers > 0 ? static_cast<std::size_t>(cfg.pipeline.workers)
                                  : std::max<std::size_t>(2, std::thread::hardware_concurrency());
}

openai::client_config client_config_of(const config& cfg, std::string key, io::worker_pool& pool) {
  openai::client_config c = cfg.api;
  c.api_key = std::move(key);
  c.time_scale = cfg.time_scale;  // Retry-After and backoff are API time
  c.offload = [&pool](std::function<void()> f) { return pool.run(f); };
  return c;
}

control_server_options control_options_of(const config& cfg, std::optional<gid_t> group) {
  control_server_options o;
  o.max_connections = static_cast<std::size_t>(cfg.control.max_connections);
  o.max_header_bytes = static_cast<std::uint32_t>(cfg.control.max_header_bytes);
  o.max_body_bytes = static_cast<std::uint64_t>(cfg.control.max_body_bytes);
  o.request_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(cfg.control.timeout_s * 1000));
  o.body_limit = [max = o.max_body_bytes, group](const std::string& method, const std::string& target,
                                                  const peer_credentials& peer) {
    return control_body_limit(method, target, peer, group, max);
  };
  return o;
}

}  // namespace

std::shared_ptr<const ledger::pricing_table> load_prices(const std::filesystem::path& file) {
  auto table = std::make_shared<ledger::pricing_table>(ledger::pricing_table::builtin_overlaid_by(file));
  spdlog::info("pricing: {} model(s) from {} (as of {}){}", table->models.size(), table->origin, table->as_of,
               std::filesystem::exists(file) ? "" : "; no file at " + file.string() + " to overlay it");
  return table;
}

jobs::pipeline_inputs pipeline_inputs_from(const config& cfg, std::shared_ptr<const ledger::pricing_table> prices) {
  jobs::pipeline_inputs in;
  in.prices = std::move(prices);
  if (const char* crash = std::getenv("BATCHD_CRASH_AT")) in.crash_at = crash;  // crash tests only
  if (!cfg.daily_budget_usd.empty()) in.spending.daily = ledger::parse_usd(cfg.daily_budget_usd);
  return in;
}

io::clock clock_for(store::database& db, double scale) {
  if (scale == 1) return io::clock();
  if (const auto o = db.clock_origin(scale)) return io::clock(scale, o->clock, o->real);
  const double real = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const double start = std::max(real, db.latest_time());
  db.set_clock_origin(scale, start, real);
  return io::clock(scale, start, real);
}

service::service(const config& cfg, std::string api_key, std::function<config_result()> reload)
    : cfg_(cfg),
      read_config_(std::move(reload)),
      file_settings_(cfg.file_settings),
      one_daemon_(cfg.state),
      dirs_(spool_of(cfg)),
      db_(cfg.state / "batchd.db"),
      clock_(clock_for(db_, cfg.time_scale)),  // a scaled clock goes on as if it had run all along
      pool_(workers_of(cfg)),
      api_(ioc_.get_executor(), client_config_of(cfg, std::move(api_key), pool_)),
      prices_(load_prices(cfg.pricing)),
      runner_(ioc_.get_executor(), db_, dirs_, api_, clock_, pool_, cfg.pipeline, pipeline_inputs_from(cfg, prices_)),
      vectors_(db_, pool_, api_, [this] { return runner_.prices(); }, clock_) {
  open_control_socket();  // refuses to start beside a live daemon on the same socket
  resume_jobs();
  watch_inbox();
  handle_signals();
  feed_watchdog();
}

service::~service() {
  if (!socket_file_.empty()) ::unlink(socket_file_.c_str());
}

void service::open_control_socket() {
  const control_socket_options opt{cfg_.socket, cfg_.control.group,
                                   static_cast<mode_t>(std::stoul(cfg_.control.mode, nullptr, 8))};
  const int listen_fd = daemon::open_control_socket(opt, socket_from_systemd_);
  if (!socket_from_systemd_) socket_file_ = cfg_.socket;
  const auto group = group_id(cfg_.control.group);  // once: a look-up, not for the loop
  control_context ctx{db_, runner_, dirs_, api_, clock_, group, cfg_.api.base_url,
                      [this] { return control_ ? control_->connections() : std::size_t{0}; }};
  ctx.vectors = &vectors_;
  ctx.pool = &pool_;
  control_ = std::make_unique<control_server>(ioc_.get_executor(), listen_fd, control_options_of(cfg_, group),
                                              make_control_api(ctx));
}

void service::resume_jobs() {
  if (int n = jobs::adopt_orphans(db_, dirs_, clock_.now())) spdlog::info("adopted {} job(s) moved in before a crash", n);
  runner_.resume_all();
}

void service::watch_inbox() {
  // The inbox's entrance to the one intake (the socket's is POST /v1/jobs).
  auto on_file = [this](const std::filesystem::path& file, bool settled) {
    asio::co_spawn(ioc_, runner_.take(file, std::nullopt, settled),
                   [this, file](std::exception_ptr e, jobs::pipeline::taken t) {
                     if (e) {
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& ex) {
                         // The file stays in inbox/; the next rescan tries again.
                         spdlog::error("could not take {}: {}", file.string(), ex.what());
                       }
                     } else if (!t.job_id && t.rejection) {
                       spdlog::warn("refused {}: see {}", file.filename().string(), dirs_.rejected.string());
                     }
                   });
  };
  asio::co_spawn(ioc_, daemon::watch_inbox(dirs_.inbox, on_file, clock_.real(cfg_.pipeline.rescan_s)),
                 [](std::exception_ptr e) {
                   if (e) std::rethrow_exception(e);
                 });
}

void service::handle_signals() {
  // Every transition is committed before the work it enables, so stopping
  // at any await leaves a state the next start resumes from.
  signals_.add(SIGINT);
  signals_.add(SIGTERM);
  signals_.add(SIGHUP);
  // Boot test only: SIGUSR2 blocks the event loop, for the watchdog to catch.
  const char* stall_hook = std::getenv("BATCHD_TEST_STALL_ON_SIGUSR2");
  stall_on_usr2_ = stall_hook && *stall_hook == '1';
  if (stall_on_usr2_) signals_.add(SIGUSR2);
  signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (!ec) on_signal(sig);
  });
}

void service::on_signal(int sig) {
  if (sig == SIGUSR2 && stall_on_usr2_) {
    spdlog::warn("SIGUSR2: stalling the event loop on purpose (BATCHD_TEST_STALL_ON_SIGUSR2)");
    for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
  }
  if (sig == SIGHUP) {
    reload();
    signals_.async_wait([this](const boost::system::error_code& ec, int next) {
      if (!ec) on_signal(next);
    });
    return;
  }
  systemd_.send("STOPPING=1");
  spdlog::info("stopping");
  ioc_.stop();
}

void service::reload() {
  const auto now_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch());
  systemd_.send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(now_us.count()));
  auto again = read_config_();
  if (!again.value) {
    for (const auto& p : again.problems) spdlog::error("SIGHUP: {}; keeping the running configuration", p);
    systemd_.send("READY=1");
    return;
  }
  spdlog::set_level(spdlog::level::from_str(again.value->log_level));
  try {
    prices_ = load_prices(again.value->pricing);
  } catch (const std::exception& e) {
    spdlog::error("SIGHUP: {}; keeping the prices in use", e.what());
  }
  runner_.set_config(again.value->pipeline, pipeline_inputs_from(*again.value, prices_));
  if (const int n = runner_.resume_quota_holds()) spdlog::info("SIGHUP: {} job(s) held for quota ask the API again", n);
  std::string later;
  for (const auto& k : needs_restart(cfg_.file_settings, again.value->file_settings))
    later += (later.empty() ? "" : ", ") + k;
  if (!later.empty()) spdlog::warn("SIGHUP: {} changed; that takes effect at the next start", later);
  std::string what;
  for (const auto& c : setting_changes(file_settings_, again.value->file_settings)) what += (what.empty() ? "" : "; ") + c;
  file_settings_ = again.value->file_settings;
  spdlog::info("SIGHUP: configuration reloaded from {}: {}",
               cfg_.config_file.empty() ? "flags only" : cfg_.config_file.string(),
               what.empty() ? "no setting changed" : what);
  systemd_.send("READY=1");
}

std::string service::status() const { return "STATUS=" + std::to_string(runner_.running()) + " job(s) running"; }

void service::feed_watchdog() {
  // Fed from the event loop, so a stuck loop is caught.
  asio::co_spawn(ioc_, [this]() -> asio::awaitable<void> {
    asio::steady_timer t(ioc_);
    const auto every = systemd_.watchdog_interval().value_or(std::chrono::seconds(5));
    for (;;) {
      t.expires_after(std::min<std::chrono::steady_clock::duration>(every, std::chrono::seconds(5)));
      co_await t.async_wait(asio::use_awaitable);
      systemd_.send((systemd_.watchdog_interval() ? "WATCHDOG=1\n" : "") + status());
    }
  }, asio::detached);
}

void service::run() {
  // READY=1 only now: in-flight work is resumed and signals are handled.
  systemd_.send("READY=1\nSTATUS=" + std::to_string(runner_.running()) + " job(s) resumed, watching " +
                dirs_.inbox.string());
  spdlog::info("batchd {} started: spool {}, state {}, socket {}{}, {} job(s) resumed", BATCHD_VERSION,
               cfg_.spool.string(), cfg_.state.string(), cfg_.socket.string(),
               socket_from_systemd_ ? " (from systemd)" : "", runner_.running());
  ioc_.run();
}

}  // namespace batchd::daemon
