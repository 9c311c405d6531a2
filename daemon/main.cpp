// batchd: takes batch work dropped into inbox/, runs it on the OpenAI Batch
// API, and puts results into outbox/. See README.md and DESIGN.md.
// Startup, as its steps: config → logging → the key → the service (state
// lock, store, client, pipeline, control socket, watcher: service.hpp) → run.
#include <spdlog/spdlog.h>
#include <sys/prctl.h>

#include <iostream>

#include "daemon/config.hpp"
#include "daemon/logging.hpp"
#include "daemon/service.hpp"
#include "jobs/lifecycle/job_transitions.hpp"

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
  auto key = daemon::read_api_key(cfg.api);
  if (key.empty()) {
    std::cerr << "batchd: no API key: set --api-key-file, OPENAI_API_KEY, or the systemd credential "
                 "openai-api-key\n";
    return 2;
  }
  // Tests: a move the stage table forbids aborts instead of being refused.
  if (const char* strict = std::getenv("BATCHD_STRICT_MOVES"); strict && *strict == '1')
    jobs::job_transitions::set_strict(true);
  try {
    daemon::service batchd(cfg, std::move(key), [argc, argv] { return daemon::load_config(argc, argv); });
    batchd.run();
  } catch (const std::exception& e) {
    spdlog::critical("batchd: {}", e.what());
    return 1;
  }
  return 0;
}
