#pragma once
// The daemon's configuration: one aggregate, a section per component, filled
// in one place with one precedence — built-in defaults, then the config file
// (JSON), then the SDKs' environment variables, then command-line flags.
// Validated once at start-up, reporting every problem.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "openai/client_config.hpp"
#include "jobs/core/pipeline_config.hpp"

namespace batchd::daemon {

// The client's own settings as they are, and where the key comes from (the
// key itself is read at start and never kept in the configuration).
struct api_config : openai::client_config {
  std::filesystem::path key_file;  // else $OPENAI_API_KEY, else $CREDENTIALS_DIRECTORY/openai-api-key
};

struct control_config {
  std::string group;               // the socket's group; its members may submit, cancel, release
  std::string mode = "0660";       // octal, the socket file's permissions
  std::int64_t max_connections = 256;
  std::int64_t max_header_bytes = 16 * 1024;
  std::int64_t max_body_bytes = 64LL << 20;  // POST /v1/jobs carries a job file
  double timeout_s = 30;           // for a request to arrive (and an idle connection to close)
};

struct config {
  std::filesystem::path config_file;
  std::filesystem::path pricing = "/etc/batchd/pricing.json";  // the pricing table
  std::string daily_budget_usd;  // e.g. "25.00"; empty: no daily budget
  std::filesystem::path spool = "/var/spool/batchd";
  std::filesystem::path state = "/var/lib/batchd";
  std::filesystem::path socket = "/run/batchd/batchd.sock";
  double time_scale = 1;
  std::string log_level = "info";
  api_config api;
  jobs::pipeline_config pipeline;  // used as it is by the pipeline
  control_config control;
  // The file's settings, flattened ("pipeline.max_attempts" → "3"), so a
  // reload can say what it changed.
  std::map<std::string, std::string> file_settings;
};

// "pipeline.max_attempts 3 → 5", one per setting added, changed or removed.
std::vector<std::string> setting_changes(const std::map<std::string, std::string>& before,
                                         const std::map<std::string, std::string>& after);
// The changed settings a reload cannot apply (paths, the API, the control
// socket, time_scale, pipeline.workers and pipeline.rescan_s): the next start does.
std::vector<std::string> needs_restart(const std::map<std::string, std::string>& before,
                                       const std::map<std::string, std::string>& after);

// Parses flags (and the file and environment they point to). Returns the
// config, or the list of problems (each a full sentence) to print.
struct config_result {
  std::optional<config> value;
  std::vector<std::string> problems;
  int exit_code = 0;  // for --help / --version: print nothing more, exit with this
  bool exit_now = false;
};
config_result load_config(int argc, char** argv);

// The API key, from the configured file, the environment or systemd's
// credential directory. Never logged. Empty if none is found.
std::string read_api_key(const api_config& api);

}  // namespace batchd::daemon
