#include "daemon/config.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "jobfiles/manifest.hpp"
#include "ledger/money.hpp"

namespace batchd::daemon {
namespace {

using nlohmann::json;

// Reads one object of the config file. Every key it does not take is a
// problem named with its path ("pipeline.max_atempts"): a typo silently
// ignored is a setting silently lost.
class section {
 public:
  section(const json& obj, std::string path, std::vector<std::string>& problems)
      : obj_(obj), path_(std::move(path)), problems_(problems) {}
  ~section() {
    for (const auto& [k, _] : obj_.items()) {
      if (std::find(known_.begin(), known_.end(), k) != known_.end()) continue;
      auto p = "config: unknown key '" + name(k) + "'";
      if (const auto near = jobfiles::closest_name(k, known_)) p += "; did you mean '" + name(*near) + "'?";
      problems_.push_back(p);
    }
  }
  template <class T>
  void take(const char* key, T& field) {
    known_.emplace_back(key);
    if (!obj_.contains(key)) return;
    try {
      if constexpr (std::is_same_v<T, std::filesystem::path>) field = obj_[key].template get<std::string>();
      else field = obj_[key].template get<T>();
    } catch (const json::exception&) {
      problems_.push_back("config: '" + name(key) + "' has the wrong type");
    }
  }
  // A nested object: its keys are checked by the returned section.
  std::optional<section> sub(const char* key) {
    known_.emplace_back(key);
    if (!obj_.contains(key)) return std::nullopt;
    if (!obj_[key].is_object()) {
      problems_.push_back("config: '" + name(key) + "' must be an object");
      return std::nullopt;
    }
    return std::optional<section>(std::in_place, obj_[key], name(key), problems_);
  }
  void known(const char* key) { known_.emplace_back(key); }
  const json& obj() const { return obj_; }

 private:
  std::string name(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  const json& obj_;
  std::string path_;
  std::vector<std::string>& problems_;
  std::vector<std::string> known_;
};

void apply_file(config& c, const json& j, std::vector<std::string>& problems) {
  section top(j, "", problems);
  top.take("spool", c.spool);
  top.take("state", c.state);
  top.take("socket", c.socket);
  top.take("time_scale", c.time_scale);
  top.take("log_level", c.log_level);
  top.take("pricing", c.pricing);
  top.known("daily_budget_usd");
  if (j.contains("daily_budget_usd")) {
    // A number is read from its decimal text, never through a double's arithmetic.
    const auto& v = j["daily_budget_usd"];
    if (v.is_string()) c.daily_budget_usd = v.get<std::string>();
    else if (v.is_number()) c.daily_budget_usd = v.dump();
    else if (!v.is_null()) problems.push_back("config: 'daily_budget_usd' must be a decimal such as \"25.00\"");
  }
  if (auto a = top.sub("api")) {
    a->take("base_url", c.api.base_url);
    a->take("key_file", c.api.key_file);
    a->take("organization", c.api.organization);
    a->take("project", c.api.project);
    a->take("ca_file", c.api.ca_file);
    a->take("requests_per_second", c.api.requests_per_second);
    a->take("max_retries", c.api.retry.max_retries);
    for (auto [key, field] : {std::pair{"connect_timeout_s", &c.api.connect_timeout},
                              std::pair{"idle_timeout_s", &c.api.idle_timeout},
                              std::pair{"first_byte_timeout_s", &c.api.first_byte_timeout},
                              std::pair{"request_timeout_s", &c.api.request_timeout}}) {
      double seconds = std::chrono::duration<double>(*field).count();
      a->take(key, seconds);
      if (seconds <= 0) problems.push_back(std::string("config: 'api.") + key + "' must be positive");
      else *field = std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
    }
  }
  if (auto p = top.sub("pipeline")) {
    auto& q = c.pipeline;
    p->take("max_attempts", q.max_attempts);
    p->take("poll_initial_s", q.poll_initial_s);
    p->take("poll_factor", q.poll_factor);
    p->take("poll_cap_s", q.poll_cap_s);
    p->take("api_grace_s", q.api_grace_s);
    p->take("token_limit_retry_s", q.token_limit_retry_s);
    p->take("retry_after_cap_s", q.retry_after_cap_s);
    p->take("quota_recheck_s", q.quota_recheck_s);
    p->take("enqueued_token_limit", q.enqueued_token_limit);
    p->take("delete_remote_files", q.delete_remote_files);
    p->take("rescan_s", q.rescan_s);
    p->take("inbox_settle_s", q.inbox_settle_s);
    p->take("list_refresh_from", q.list_refresh_from);
    p->take("held_recheck_s", q.held_recheck_s);
    p->take("step_retry_initial_s", q.step_retry_initial_s);
    p->take("step_retry_cap_s", q.step_retry_cap_s);
    p->take("step_max_failures", q.step_max_failures);
    p->take("retention_days", q.retention_days);
    p->take("workers", q.workers);
    p->take("max_file_bytes", q.max_file_bytes);
    p->take("max_requests_per_batch", q.limits.max_requests);
    p->take("max_bytes_per_batch", q.limits.max_bytes);
    p->take("max_embedding_inputs_per_batch", q.limits.max_embedding_inputs);
  }
  if (auto k = top.sub("control")) {
    k->take("group", c.control.group);
    k->take("mode", c.control.mode);
    k->take("max_connections", c.control.max_connections);
    k->take("max_header_bytes", c.control.max_header_bytes);
    k->take("max_body_bytes", c.control.max_body_bytes);
    k->take("timeout_s", c.control.timeout_s);
  }
}

void validate(const config& c, std::vector<std::string>& problems) {
  if (c.time_scale <= 0) problems.push_back("time_scale must be positive");
  if (c.api.requests_per_second <= 0) problems.push_back("api.requests_per_second must be positive");
  if (c.pipeline.max_attempts < 1) problems.push_back("pipeline.max_attempts must be at least 1");
  if (c.pipeline.list_refresh_from < 1) problems.push_back("pipeline.list_refresh_from must be at least 1");
  if (c.pipeline.workers < 0 || c.pipeline.workers > 256)
    problems.push_back("pipeline.workers must be within 0..256 (0: one a core)");
  if (c.pipeline.retry_after_cap_s <= 0) problems.push_back("pipeline.retry_after_cap_s must be positive");
  if (c.pipeline.quota_recheck_s <= 0) problems.push_back("pipeline.quota_recheck_s must be positive");
  if (c.pipeline.retention_days < 0) problems.push_back("pipeline.retention_days must not be negative");
  if (c.pipeline.step_max_failures < 1) problems.push_back("pipeline.step_max_failures must be at least 1");
  if (c.pipeline.step_retry_initial_s <= 0 || c.pipeline.step_retry_cap_s < c.pipeline.step_retry_initial_s)
    problems.push_back("pipeline.step_retry_initial_s must be positive and at most pipeline.step_retry_cap_s");
  const auto& l = c.pipeline.limits;
  if (l.max_requests < 1 || l.max_requests > 50'000)
    problems.push_back("pipeline.max_requests_per_batch must be within 1..50000 (the API's limit)");
  if (l.max_bytes < 1024 || l.max_bytes > 209'715'200)
    problems.push_back("pipeline.max_bytes_per_batch must be within 1024..209715200 (the API's limit)");
  if (l.max_embedding_inputs < 1 || l.max_embedding_inputs > 50'000)
    problems.push_back("pipeline.max_embedding_inputs_per_batch must be within 1..50000");
  if (!c.daily_budget_usd.empty() && !ledger::parse_usd(c.daily_budget_usd))
    problems.push_back("daily_budget_usd must be a plain decimal amount in USD such as \"25.00\"");
  const auto& k = c.control;
  if (k.mode.empty() || k.mode.size() > 4 || k.mode.find_first_not_of("01234567") != std::string::npos)
    problems.push_back("control.mode must be octal permissions such as \"0660\"");
  if (k.max_connections < 1) problems.push_back("control.max_connections must be at least 1");
  if (k.max_header_bytes < 1024) problems.push_back("control.max_header_bytes must be at least 1024");
  if (k.max_body_bytes < 1) problems.push_back("control.max_body_bytes must be at least 1");
  if (k.timeout_s <= 0) problems.push_back("control.timeout_s must be positive");
  if (c.api.base_url.rfind("https://", 0) != 0 && c.api.base_url.rfind("http://", 0) != 0)
    problems.push_back("api.base_url must start with https:// (or http:// for a loopback address)");
}

void flatten(const json& j, const std::string& prefix, std::map<std::string, std::string>& out) {
  for (const auto& [k, v] : j.items()) {
    const auto name = prefix.empty() ? k : prefix + "." + k;
    if (v.is_object()) flatten(v, name, out);
    else out[name] = v.dump();
  }
}

}  // namespace

std::vector<std::string> setting_changes(const std::map<std::string, std::string>& before,
                                         const std::map<std::string, std::string>& after) {
  std::vector<std::string> out;
  for (const auto& [k, v] : after) {
    const auto old = before.find(k);
    if (old == before.end()) out.push_back(k + " set to " + v);
    else if (old->second != v) out.push_back(k + " " + old->second + " → " + v);
  }
  for (const auto& [k, v] : before)
    if (!after.contains(k)) out.push_back(k + " removed (was " + v + ")");
  return out;
}

std::vector<std::string> needs_restart(const std::map<std::string, std::string>& before,
                                       const std::map<std::string, std::string>& after) {
  const auto live = [](const std::string& k) {
    if (k == "log_level" || k == "pricing" || k == "daily_budget_usd") return true;
    return k.starts_with("pipeline.") && k != "pipeline.workers" && k != "pipeline.rescan_s";
  };
  std::vector<std::string> out;
  auto note = [&](const std::string& k) {
    if (!live(k) && std::find(out.begin(), out.end(), k) == out.end()) out.push_back(k);
  };
  for (const auto& [k, v] : after)
    if (const auto old = before.find(k); old == before.end() || old->second != v) note(k);
  for (const auto& [k, v] : before)
    if (!after.contains(k)) note(k);
  return out;
}

config_result load_config(int argc, char** argv) {
  config_result out;
  config c;
  CLI::App app{"batchd: runs OpenAI Batch API work dropped into a folder"};
  app.set_version_flag("--version", "batchd " BATCHD_VERSION);
  app.add_option("--config", c.config_file, "JSON config file (see etc/batchd.json)");
  std::optional<std::string> spool, state, socket, socket_group, base, key_file, log_level, pricing, daily_budget;
  std::optional<double> time_scale;
  app.add_option("--spool", spool, "folder holding inbox/, outbox/ and rejected/");
  app.add_option("--state", state, "folder for the database and working files");
  app.add_option("--socket", socket, "the control socket");
  app.add_option("--socket-group", socket_group, "the control socket's group, whose members may change jobs");
  app.add_option("--api-base", base, "API root including /v1 (env OPENAI_BASE_URL)");
  app.add_option("--api-key-file", key_file, "file holding the API key (else OPENAI_API_KEY, else the systemd credential openai-api-key)");
  app.add_option("--pricing", pricing, "the pricing table (default /etc/batchd/pricing.json)");
  app.add_option("--daily-budget-usd", daily_budget, "hold jobs that would take the day's spend past this");
  app.add_option("--time-scale", time_scale, "run the clock N times faster (tests and the demo)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    out.exit_code = app.exit(e);
    out.exit_now = true;
    return out;
  }
  if (!c.config_file.empty()) {
    std::ifstream in(c.config_file);
    if (!in) {
      out.problems.push_back("cannot read the config file " + c.config_file.string());
    } else {
      auto j = json::parse(in, nullptr, false, true);
      if (j.is_discarded() || !j.is_object())
        out.problems.push_back("the config file " + c.config_file.string() + " is not a JSON object");
      else {
        apply_file(c, j, out.problems);
        flatten(j, "", c.file_settings);
      }
    }
  }
  auto env = [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    return v && *v ? std::optional<std::string>(v) : std::nullopt;
  };
  if (auto v = env("OPENAI_BASE_URL")) c.api.base_url = *v;
  if (auto v = env("OPENAI_ORG_ID")) c.api.organization = *v;
  if (auto v = env("OPENAI_PROJECT_ID")) c.api.project = *v;
  if (spool) c.spool = *spool;
  if (state) c.state = *state;
  if (socket) c.socket = *socket;
  if (socket_group) c.control.group = *socket_group;
  if (pricing) c.pricing = *pricing;
  if (daily_budget) c.daily_budget_usd = *daily_budget;
  if (base) c.api.base_url = *base;
  if (key_file) c.api.key_file = *key_file;
  if (time_scale) c.time_scale = *time_scale;
  if (log_level) c.log_level = *log_level;
  validate(c, out.problems);
  if (out.problems.empty()) out.value = c;
  return out;
}

std::string read_api_key(const api_config& api) {
  auto slurp = [](const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    auto key = s.str();
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) key.pop_back();
    return key;
  };
  if (!api.key_file.empty()) return slurp(api.key_file);
  if (const char* k = std::getenv("OPENAI_API_KEY"); k && *k) return k;
  if (const char* dir = std::getenv("CREDENTIALS_DIRECTORY"); dir && *dir) {
    const auto p = std::filesystem::path(dir) / "openai-api-key";
    if (std::filesystem::exists(p)) return slurp(p);
  }
  return {};
}

}  // namespace batchd::daemon
