#include "daemon/control_api.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "openai/client.hpp"
#include "io/clock.hpp"
#include "store/database.hpp"
#include "io/atomic_file.hpp"
#include "jobs/intake/intake.hpp"
#include "jobs/results/job_report.hpp"
#include "ledger/ledger.hpp"
#include "ledger/money.hpp"
#include "daemon/metrics.hpp"
#include "jobs/lifecycle/pipeline.hpp"
#include "jobs/core/spool.hpp"
#include "jobs/core/stage.hpp"
#include "daemon/control_money.hpp"
#include "daemon/control_search.hpp"

namespace batchd::daemon {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct parsed_target {
  std::vector<std::string> segments;  // "/v1/jobs/a" → {"v1", "jobs", "a"}
  std::map<std::string, std::string> query;
};

std::string url_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

parsed_target parse_target(const std::string& target) {
  parsed_target t;
  const auto q = target.find('?');
  const std::string_view path(target.data(), q == std::string::npos ? target.size() : q);
  std::size_t i = 0;
  while (i < path.size()) {
    const auto next = path.find('/', i);
    const auto end = next == std::string_view::npos ? path.size() : next;
    if (end > i) t.segments.push_back(url_decode(path.substr(i, end - i)));
    i = end + 1;
  }
  if (q != std::string::npos) {
    std::string_view rest(target.data() + q + 1, target.size() - q - 1);
    while (!rest.empty()) {
      const auto amp = rest.find('&');
      const auto pair = rest.substr(0, amp);
      const auto eq = pair.find('=');
      if (!pair.empty())
        t.query[url_decode(pair.substr(0, eq))] = eq == std::string_view::npos ? "" : url_decode(pair.substr(eq + 1));
      if (amp == std::string_view::npos) break;
      rest.remove_prefix(amp + 1);
    }
  }
  return t;
}


control_response method_not_allowed(const std::string& allow) {
  auto r = error_response(405, "method_not_allowed", "this route takes " + allow);
  r.headers.emplace_back("Allow", allow);
  return r;
}

control_response not_allowed_peer(const control_request& req) {
  return error_response(403, "forbidden",
                        "uid " + std::to_string(req.peer.uid) +
                            " may read but not change jobs: run as root, as the service user, or as a member "
                            "of the service's group");
}

// POST /v1/jobs: the one route that carries a job file as its body.
bool is_submit(const std::string& method, const std::string& target) {
  return method == "POST" && target.substr(0, target.find('?')) == "/v1/jobs";
}

class api {
 public:
  explicit api(control_context ctx) : ctx_(std::move(ctx)) {}

  static bool is_search(const control_request& req) {
    const auto& s = parse_target(req.target).segments;
    return req.method == "POST" && s.size() == 4 && s[0] == "v1" && s[1] == "jobs" && s[3] == "search";
  }

  control_response operator()(const control_request& req) {
    const auto t = parse_target(req.target);
    const auto& s = t.segments;
    if (s.size() == 1 && s[0] == "metrics") {
      if (req.method != "GET") return method_not_allowed("GET");
      control_response r;
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = render_metrics(ctx_);
      return r;
    }
    if (s.empty() || s[0] != "v1") return unknown_route(req);
    if (s.size() == 2 && s[1] == "health") {
      if (req.method != "GET") return method_not_allowed("GET");
      return health();
    }
    if (s.size() == 2 && s[1] == "jobs") {
      if (req.method == "GET") return list_jobs(t);
      return method_not_allowed("GET, POST");
    }
    if (s.size() == 3 && s[1] == "jobs") {
      if (req.method != "GET") return method_not_allowed("GET");
      return show_job(s[2]);
    }
    if (s.size() == 4 && s[1] == "jobs" && s[3] == "cancel") {
      if (req.method != "POST") return method_not_allowed("POST");
      return cancel(req, s[2]);
    }
    if (s.size() == 4 && s[1] == "jobs" && s[3] == "search") return method_not_allowed("POST");
    if (s.size() == 4 && s[1] == "jobs" && s[3] == "release") {
      if (req.method != "POST") return method_not_allowed("POST");
      return let_go(req, s[2], &jobs::pipeline::release);
    }
    if (s.size() == 4 && s[1] == "jobs" && s[3] == "resume") {
      if (req.method != "POST") return method_not_allowed("POST");
      return let_go(req, s[2], &jobs::pipeline::resume);
    }
    if (s.size() == 2 && s[1] == "prices") {
      if (req.method != "GET") return method_not_allowed("GET");
      return prices_route(*ctx_.runner.prices(), t.query);
    }
    if (s.size() == 2 && s[1] == "ledger") {
      if (req.method != "GET") return method_not_allowed("GET");
      return ledger_route(ctx_.db, t.query);
    }
    return unknown_route(req);
  }

 private:
  static control_response unknown_route(const control_request& req) {
    return error_response(404, "unknown_route",
                          "no route " + req.method + " " + req.target.substr(0, req.target.find('?')) +
                              "; see /v1/health, /v1/jobs, /v1/jobs/{job}, /v1/jobs/{job}/cancel, "
                              "/v1/jobs/{job}/release, /v1/jobs/{job}/resume, /v1/jobs/{job}/search, /v1/ledger, /v1/prices, "
                              "/metrics");
  }

  std::optional<store::job_row> find_job(const std::string& name) { return ctx_.db.job_by_name(name); }

  static control_response unknown_job(const std::string& name) {
    return error_response(404, "unknown_job", "no job named '" + name + "'; `batchctl jobs` lists them");
  }

  json job_view(const store::job_row& job) {
    const auto chunks = ctx_.db.chunks_of(job.id);
    auto doc = jobs::job_document(job, chunks, ctx_.runner.money_of(job));
    doc["cancel_requested"] = job.cancel_requested;
    return doc;
  }

  control_response health() {
    const json by_status = jobs_by_public_status(ctx_.db);
    const auto& st = ctx_.api.stats();
    json reachable = nullptr;  // unknown until a call was made
    if (st.last_answer) reachable = !st.last_network_error || *st.last_network_error < *st.last_answer;
    else if (st.last_network_error) reachable = false;
    auto when = [](const auto& tp) {
      return tp ? json(io::rfc3339(std::chrono::duration<double>(tp->time_since_epoch()).count())) : json(nullptr);
    };
    json api = {{"base_url", ctx_.api_base},
                {"reachable", reachable},
                {"last_answer_at", when(st.last_answer)},
                {"last_network_error_at", when(st.last_network_error)}};
    if (!st.last_error.empty()) api["last_error"] = st.last_error;
    const auto up = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - ctx_.started);
    return json_response({{"status", "ok"},
                          {"version", BATCHD_VERSION},
                          {"uptime_s", up.count()},
                          {"jobs", by_status},
                          {"running", ctx_.runner.running()},
                          {"state", {{"path", ctx_.dirs.state.string()}, {"bytes", ctx_.runner.state_bytes()}}},
                          {"pricing", {{"table", ctx_.runner.prices()->origin},
                                       {"as_of", ctx_.runner.prices()->as_of},
                                       {"models", ctx_.runner.prices()->models.size()}}},
                          {"api", api}});
  }

  control_response list_jobs(const parsed_target& t) {
    std::int64_t limit = 20;
    if (auto it = t.query.find("limit"); it != t.query.end()) {
      char* end = nullptr;
      limit = std::strtoll(it->second.c_str(), &end, 10);
      if (it->second.empty() || *end || limit < 1 || limit > 1000)
        return error_response(400, "invalid_parameter", "limit must be a whole number from 1 to 1000");
    }
    std::vector<std::string> stages;
    if (auto it = t.query.find("status"); it != t.query.end()) {
      for (const auto st : jobs::all_job_stages)
        if (jobs::public_status(st) == it->second) stages.emplace_back(jobs::name(st));
      if (stages.empty())
        return error_response(400, "invalid_parameter",
                              "status must be one of queued, held, running, completed, failed, cancelled");
    }
    std::int64_t before = 0;
    if (auto it = t.query.find("after"); it != t.query.end()) {
      auto j = find_job(it->second);
      if (!j) return error_response(400, "invalid_parameter", "after: no job named '" + it->second + "'");
      before = j->id;
    }
    auto rows = ctx_.db.jobs_newest_first(limit + 1, before, stages);
    const bool more = static_cast<std::int64_t>(rows.size()) > limit;
    if (more) rows.pop_back();
    json data = json::array();
    for (const auto& j : rows) data.push_back(job_view(j));
    return json_response({{"object", "list"},
                          {"data", data},
                          {"has_more", more},
                          {"next_after", more ? json(rows.back().name) : json(nullptr)}});
  }

  control_response show_job(const std::string& name) {
    auto job = find_job(name);
    if (!job) return unknown_job(name);
    return json_response(job_view(*job));
  }

  control_response cancel(const control_request& req, const std::string& name) {
    if (!may_change(req.peer, ctx_.group)) return not_allowed_peer(req);
    if (!req.body.empty()) {
      auto body = json::parse(req.body, nullptr, false);
      if (body.is_discarded() || !body.is_object())
        return error_response(400, "invalid_json", "the body, when given, must be a JSON object");
    }
    auto job = find_job(name);
    if (!job) return unknown_job(name);
    if (!ctx_.runner.cancel(job->id))
      return error_response(409, "job_finished", "job '" + name + "' is already " +
                                                     std::string(jobs::public_status(*jobs::parse_job_stage(job->stage))));
    return json_response(job_view(*ctx_.db.job(job->id)), 202);
  }

  // POST /v1/jobs/{job}/release and /resume: `let_go` (the pipeline's release or resume) lets a held job go on.
  control_response let_go(const control_request& req, const std::string& name,
                          bool (jobs::pipeline::*let_go)(std::int64_t)) {
    if (!may_change(req.peer, ctx_.group)) return not_allowed_peer(req);
    auto job = find_job(name);
    if (!job) return unknown_job(name);
    if (!(ctx_.runner.*let_go)(job->id))
      return error_response(409, "not_held", "job '" + name + "' is not held; it is " +
                                                 std::string(jobs::public_status(*jobs::parse_job_stage(job->stage))));
    return json_response(job_view(*ctx_.db.job(job->id)), 202);
  }

  // The content becomes a file as if dropped, and goes through the one intake.
 public:
  boost::asio::awaitable<control_response> submit(control_request req) {
    const auto t = parse_target(req.target);
    if (!may_change(req.peer, ctx_.group)) co_return not_allowed_peer(req);
    std::optional<ledger::picousd> max_cost;
    if (auto it = t.query.find("max_cost_usd"); it != t.query.end()) {
      max_cost = ledger::parse_usd(it->second);
      if (!max_cost)
        co_return error_response(400, "invalid_parameter", "max_cost_usd must be a decimal amount in USD such as 12.50");
    }
    const auto it = t.query.find("name");
    if (it == t.query.end() || it->second.empty())
      co_return error_response(400, "missing_parameter",
                               "say the job file's name: POST /v1/jobs?name=reviews.jsonl with the content as the body");
    const auto filename = it->second;
    if (filename.find('/') != std::string::npos || !jobs::is_candidate_name(filename) ||
        std::any_of(filename.begin(), filename.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
      co_return error_response(400, "invalid_parameter",
                               "name must be a plain file name such as reviews.jsonl (no '/', not hidden, not .tmp/.part)");
    const auto staging = ctx_.dirs.state / "submitted" / std::to_string(std::random_device{}());
    fs::create_directories(staging);
    struct remove_staging {
      fs::path dir;
      ~remove_staging() {
        std::error_code ignored;
        fs::remove_all(dir, ignored);
      }
    } cleanup{staging};
    const auto file = staging / filename;
    const auto body = std::make_shared<const std::string>(std::move(req.body));  // shared, not copied
    const auto write = [file, body] { io::write_file_atomically(file, *body); };
    co_await ctx_.pool->run(write);
    const auto taken = co_await ctx_.runner.take(file, max_cost);
    if (taken.rejection) co_return rejected(*taken.rejection);
    if (!taken.job_id) co_return error_response(500, "io_error", "the submitted file could not be taken in");
    const auto job = *ctx_.db.job(*taken.job_id);
    spdlog::info("received {} over the control socket as job {}", filename, job.name);
    auto r = json_response(job_view(job), 201);
    r.headers.emplace_back("Location", "/v1/jobs/" + job.name);
    co_return r;
  }

  boost::asio::awaitable<control_response> search(control_request req) {
    const bool may_pay = may_change(req.peer, ctx_.group);
    if (!ctx_.vectors) co_return error_response(503, "unavailable", "search is not set up in this daemon");
    co_return co_await search_route(*ctx_.vectors, ctx_.db, ctx_.dirs, parse_target(req.target).segments[2], req.body, may_pay,
                                    not_allowed_peer(req));
  }

 private:
  // The envelope, with the .error.json content as its details.
  static control_response rejected(const json& report) {
    return json_response({{"error",
                           {{"code", "invalid_job_file"},
                            {"message", report.value("error", "the job file was refused")},
                            {"details", report}}}},
                         422);
  }

  control_context ctx_;
};

}  // namespace

std::uint64_t control_body_limit(const std::string& method, const std::string& target,
                                 const peer_credentials& peer, std::optional<gid_t> group, std::uint64_t max_submit) {
  return is_submit(method, target) && may_change(peer, group) ? max_submit : 64 * 1024;
}

namespace {

boost::asio::awaitable<control_response> handle(std::shared_ptr<api> a, control_request req) {
  if (is_submit(req.method, req.target)) co_return co_await a->submit(std::move(req));
  if (api::is_search(req)) co_return co_await a->search(std::move(req));
  co_return (*a)(req);
}

}  // namespace

control_handler make_control_api(control_context ctx) {
  return [a = std::make_shared<api>(std::move(ctx))](control_request req) { return handle(a, std::move(req)); };
}

}  // namespace batchd::daemon
