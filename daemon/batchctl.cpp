// batchctl: a thin client of batchd's control socket (DESIGN.md). Tables for
// people, --json for scripts (the route's body, unchanged); exit status 0 ok,
// 1 failed, 2 usage.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "daemon/batchctl_client.hpp"
#include "daemon/unix_http_client.hpp"

namespace batchctl {
namespace {

using batchd::daemon::unix_http;

std::string progress_text(const json& job) {
  const auto& p = job.value("progress", json::object());
  return std::to_string(p.value("finished", 0LL)) + "/" + std::to_string(p.value("total", 0LL));
}

std::string cost_text(const json& job) {
  if (!job.contains("cost") || job["cost"].is_null()) return "-";
  return "$" + str(job["cost"], "batch_usd");
}

std::string batches_text(const json& job) {
  std::map<std::string, int> by;
  for (const auto& b : job.value("batches", json::array())) ++by[b.value("status", "?")];
  std::string out;
  for (const auto& [s, n] : by) out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + s;
  return out.empty() ? "-" : out;
}

int cmd_jobs(const options& o, const std::string& status, int limit) {
  std::string target = "/v1/jobs?limit=" + std::to_string(limit);
  if (!status.empty()) target += "&status=" + url_encode(status);
  const auto list = call(o, "GET", target);
  if (o.json_out) return 0;
  std::vector<std::vector<std::string>> rows{{"JOB", "STATUS", "PROGRESS", "FAILED", "COST", "BATCHES", "CREATED"}};
  for (const auto& j : list["data"])
    rows.push_back({str(j, "job"), str(j, "status"), progress_text(j), std::to_string(j["counts"].value("failed", 0LL)),
                    cost_text(j), batches_text(j), str(j, "created_at")});
  print_table(rows);
  if (list.value("has_more", false)) std::cout << "(more: --limit " << limit * 2 << ")\n";
  return 0;
}

std::string tokens_text(const json& t) {
  return str(t, "input_tokens") + " input (" + str(t, "cached_tokens") + " cached), " + str(t, "output_tokens") +
         " output tokens";
}

void print_job(const json& j) {
  std::vector<std::vector<std::string>> rows{
      {"job", str(j, "job")},
      {"status", str(j, "status") + (j.value("cancel_requested", false) && str(j, "status") == "running"
                                          ? " (cancelling)" : "")},
      {"endpoint", str(j, "endpoint")},
      {"model", str(j, "model")},
      {"progress", progress_text(j) + " requests finished"},
      {"succeeded", std::to_string(j["counts"].value("succeeded", 0LL))},
      {"failed", std::to_string(j["counts"].value("failed", 0LL))},
      {"created", str(j, "created_at")},
      {"finished", str(j, "finished_at")}};
  if (j.contains("held_reason") && !j["held_reason"].is_null()) {
    rows.push_back({"held", str(j, "held_reason")});
    if (str(j, "held_for", "") == "quota")
      rows.push_back({"looks again", str(j, "look_again_at") + " (or now: batchctl resume " + str(j, "job") + ")"});
  }
  if (j.contains("estimate") && !j["estimate"].is_null())
    rows.push_back({"estimate", "$" + str(j["estimate"], "batch_usd", "?") + " at the batch price"});
  if (j.contains("cost") && !j["cost"].is_null())
    rows.push_back({"cost", j["cost"]["batch_usd"].is_null()
                                ? "unknown (" + str(j["cost"], "unpriced_requests") + " requests unpriced; batchctl prices)"
                                : "$" + str(j["cost"], "batch_usd") + " (regular $" + str(j["cost"], "regular_usd") +
                                      ", saved $" + str(j["cost"], "saved_usd") + "; " +
                                      str(j["cost"], "reasoning_tokens", "0") + " reasoning tokens, in the output)"});
  for (const auto& w : j.value("warnings", json::array())) rows.push_back({"warning", w.get<std::string>()});
  for (const auto& m : j.value("usage_mismatches", json::array()))
    rows.push_back({"usage mismatch", str(m, "batch") + ": the batch's usage says " + tokens_text(m["api"]) +
                                          "; its lines booked " + tokens_text(m["booked"])});
  if (j.contains("error")) rows.push_back({"error", str(j, "error")});
  if (j.contains("last_error") && !j["last_error"].is_null())
    rows.push_back({"last error", str(j, "last_error") + " (" + std::to_string(j.value("step_failures", 0)) +
                                      " in a row; trying again at " + str(j, "retry_at") + ")"});
  print_table(rows);
  const auto& batches = j.value("batches", json::array());
  if (!batches.empty()) {
    std::cout << "\n";
    std::vector<std::vector<std::string>> b{{"BATCH", "CHUNK", "ATTEMPT", "STATUS", "DONE", "FAILED", "TOTAL"}};
    for (const auto& x : batches)
      b.push_back({str(x, "id"), str(x, "chunk"), str(x, "attempt"), str(x, "status"),
                   std::to_string(x["request_counts"].value("completed", 0LL)),
                   std::to_string(x["request_counts"].value("failed", 0LL)),
                   std::to_string(x["request_counts"].value("total", 0LL))});
    print_table(b);
  }
}

int cmd_show(const options& o, const std::string& job) {
  const auto j = call(o, "GET", "/v1/jobs/" + url_encode(job));
  if (!o.json_out) print_job(j);
  return 0;
}

bool finished(const json& j) {
  const auto s = str(j, "status");
  return s == "completed" || s == "failed" || s == "cancelled";
}

std::string bar_line(const json& j, int width) {
  const auto& p = j.value("progress", json::object());
  const auto done = p.value("finished", 0LL), total = p.value("total", 0LL);
  const int filled = total > 0 ? static_cast<int>(done * width / total) : 0;
  const int pct = total > 0 ? static_cast<int>(done * 100 / total) : 0;
  return str(j, "job") + " [" + std::string(static_cast<std::size_t>(filled), '#') +
         std::string(static_cast<std::size_t>(width - filled), '.') + "] " + std::to_string(done) + "/" +
         std::to_string(total) + " " + std::to_string(pct) + "%  " + str(j, "status") + "  batches: " +
         batches_text(j) + (str(j, "status") == "held" ? "  (" + str(j, "held_reason") + ")" : "") +
         (j.contains("last_error") && !j["last_error"].is_null() ? "  (retrying: " + str(j, "last_error") + ")" : "");
}

int cmd_watch(options o, const std::string& job, double interval) {
  const bool tty = ::isatty(STDOUT_FILENO) && !o.json_out;
  const bool as_json = o.json_out;
  o.json_out = false;  // print snapshots here, one JSON line each, not per call
  std::string last;
  for (;;) {
    const auto r = unix_http(o.socket, "GET", "/v1/jobs/" + url_encode(job), {}, "application/json", timeout_of(o));
    if (r.status != 200) {
      o.json_out = as_json;
      call(o, "GET", "/v1/jobs/" + url_encode(job));  // prints and throws the error
    }
    const auto j = json::parse(r.body);
    const auto line = as_json ? j.dump() : bar_line(j, 30);
    if (tty) {
      std::cout << "\r\033[K" << line << std::flush;  // redraw in place
    } else if (line != last) {
      std::cout << line << "\n" << std::flush;
    }
    last = line;
    if (finished(j)) {
      if (tty) std::cout << "\n";
      return str(j, "status") == "completed" ? 0 : 1;
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(interval));
  }
}

int cmd_cancel(const options& o, const std::string& job) {
  const auto j = call(o, "POST", "/v1/jobs/" + url_encode(job) + "/cancel");
  if (!o.json_out) std::cout << "cancelling " << str(j, "job") << ": batches in flight are cancelled at the API; "
                             << "finished requests are still collected\n";
  return 0;
}

int cmd_resume(const options& o, const std::string& job) {
  const auto j = call(o, "POST", "/v1/jobs/" + url_encode(job) + "/resume");
  if (!o.json_out) std::cout << "resumed " << str(j, "job") << ": it looks again now\n";
  return 0;
}

int cmd_release(const options& o, const std::string& job) {
  const auto j = call(o, "POST", "/v1/jobs/" + url_encode(job) + "/release");
  if (!o.json_out) std::cout << "released " << str(j, "job") << ": it is sent despite its estimate\n";
  return 0;
}

// search (a text: the daemon embeds it) and similar (a row of the job): one shape.
int cmd_search(const options& o, const std::string& job, const json& ask) {
  const auto j = call(o, "POST", "/v1/jobs/" + url_encode(job) + "/search", ask.dump());
  if (o.json_out) return 0;
  std::vector<std::vector<std::string>> rows{{"RANK", "SCORE", "CUSTOM_ID", "INPUT"}};
  for (const auto& r : j.value("results", json::array())) {
    char score[16];
    std::snprintf(score, sizeof score, "%.4f", r.value("score", 0.0));
    auto text = r.value("input", std::string());
    if (text.size() > 60) {
      std::size_t cut = 57;
      while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // whole UTF-8 characters
      text = text.substr(0, cut) + "...";
    }
    rows.push_back({str(r, "rank"), score, str(r, "custom_id"), text});
  }
  print_table(rows);
  if (j.contains("cost"))
    std::cout << "query: " << str(j["cost"], "prompt_tokens") << " tokens, $" << str(j["cost"], "regular_usd", "?")
              << " at the regular price (in the ledger)\n";
  return 0;
}

int cmd_submit(const options& o, const std::string& file, std::string name, const std::string& max_cost) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw failure("cannot read " + file);
  std::stringstream content;
  content << in.rdbuf();
  if (name.empty()) name = std::filesystem::path(file).filename().string();
  std::string target = "/v1/jobs?name=" + url_encode(name);
  if (!max_cost.empty()) target += "&max_cost_usd=" + url_encode(max_cost);
  const auto j = call(o, "POST", target, content.str(),
                      name.ends_with(".jsonl") ? "application/x-ndjson" : "application/json");
  if (!o.json_out)
    std::cout << "submitted " << file << " as job " << str(j, "job") << " (" << str(j, "status") << ", "
              << j["counts"].value("total", 0LL) << " requests)\n";
  return 0;
}

int cmd_health(const options& o) {
  const auto j = call(o, "GET", "/v1/health");
  if (o.json_out) return 0;
  std::string jobs;
  for (const auto& [k, v] : j["jobs"].items()) jobs += (jobs.empty() ? "" : ", ") + v.dump() + " " + k;
  const auto& api = j["api"];
  const std::string reach = api["reachable"].is_null() ? "not called yet" : api["reachable"].get<bool>() ? "reachable" : "UNREACHABLE";
  print_table({{"status", str(j, "status")},
               {"version", str(j, "version")},
               {"uptime", str(j, "uptime_s") + " s"},
               {"jobs", jobs},
               {"api", str(api, "base_url") + " (" + reach + ")"},
               {"pricing", j.contains("pricing") ? str(j["pricing"], "table") + " (as of " + str(j["pricing"], "as_of") + ")"
                                                 : std::string("?")}});
  return 0;
}

void add_global_options(CLI::App& app, options& o) {
  app.set_version_flag("--version", "batchctl " BATCHD_VERSION);
  app.require_subcommand(1);
  if (const char* env = std::getenv("BATCHD_SOCKET")) o.socket = env;
  app.add_option("--socket", o.socket, "the control socket (env BATCHD_SOCKET)");
  app.add_flag("--json", o.json_out, "print the route's JSON body unchanged, for scripts");
  app.add_option("--timeout", o.timeout_s, "seconds to wait for batchd's whole answer to a request (default 30)")
      ->check(CLI::PositiveNumber);
  // Global options may also come after the subcommand (batchctl show JOB --json).
  app.fallthrough();
}

// Each subcommand's help names the global options, which it takes too.
void name_global_options_in_help(CLI::App& app) {
  app.footer("Global options go before or after the subcommand: batchctl show JOB --json.");
  for (auto* sub : app.get_subcommands({}))
    sub->footer("Global options, here or before the subcommand: --json, --socket PATH, --timeout SECONDS.");
}

}  // namespace
}  // namespace batchctl

int main(int argc, char** argv) {
  using namespace batchctl;
  CLI::App app{"batchctl: ask batchd about jobs, costs and health over its control socket"};
  options o;
  add_global_options(app, o);

  std::string job, file, name, status, by = "day", since, until, max_cost;
  int limit = 50;
  double interval = 1;
  auto* jobs = app.add_subcommand("jobs", "list jobs, newest first");
  jobs->add_option("--status", status, "queued, held, running, completed, failed or cancelled");
  jobs->add_option("--limit", limit, "how many (1-1000)")->check(CLI::Range(1, 1000));
  auto* show = app.add_subcommand("show", "one job with its batches and progress");
  show->add_option("job", job, "the job's name")->required();
  auto* watch = app.add_subcommand("watch", "a live progress bar until the job ends (exit 0 if it completed)");
  watch->add_option("job", job, "the job's name")->required();
  watch->add_option("--interval", interval, "seconds between looks")->check(CLI::PositiveNumber);
  auto* cancel = app.add_subcommand("cancel", "cancel a job; finished requests are still collected");
  cancel->add_option("job", job, "the job's name")->required();
  auto* submit = app.add_subcommand("submit", "submit a job file (same checks as the inbox)");
  submit->add_option("file", file, "a *.jsonl batch request file")->required();
  submit->add_option("--name", name, "the file name to submit under (default: the file's own)");
  submit->add_option("--max-cost-usd", max_cost, "hold the job if its estimate is over this (USD at the batch price)");
  auto* release = app.add_subcommand("release", "send a held job despite its estimate");
  release->add_option("job", job, "the job's name")->required();
  auto* resume = app.add_subcommand("resume", "a held job looks again now (out of quota: asks the API again)");
  resume->add_option("job", job, "the job's name")->required();
  auto* ledger = app.add_subcommand("ledger", "costs booked, at the batch price and the regular one");
  ledger->add_option("--by", by, "day, month, model or job")->check(CLI::IsMember({"day", "month", "model", "job"}));
  ledger->add_option("--since", since, "from this date (YYYY-MM-DD, UTC), inclusive");
  ledger->add_option("--until", until, "to this date (YYYY-MM-DD, UTC), exclusive");
  std::string model;
  auto* prices = app.add_subcommand("prices", "the pricing table in force (USD per 1M tokens), or the row for one model");
  prices->add_option("model", model, "a model id, such as gpt-4.1-mini-2025-04-14");
  auto* health = app.add_subcommand("health", "is batchd up, and can it reach the API");
  std::string text, custom_id;
  std::size_t k = 10;
  auto* search = app.add_subcommand("search", "rank a job's vectors by similarity to a text (embedded by batchd; booked)");
  search->add_option("job", job, "an embeddings job with a vector file")->required();
  search->add_option("text", text, "the query text")->required();
  search->add_option("-k", k, "how many rows (1-1000)")->check(CLI::Range(1, 1000));
  auto* similar = app.add_subcommand("similar", "rank a job's vectors by similarity to one of its rows (no API call)");
  similar->add_option("job", job, "an embeddings job with a vector file")->required();
  similar->add_option("custom_id", custom_id, "the row to compare with")->required();
  similar->add_option("-k", k, "how many rows (1-1000)")->check(CLI::Range(1, 1000));

  name_global_options_in_help(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  try {
    if (jobs->parsed()) return cmd_jobs(o, status, limit);
    if (show->parsed()) return cmd_show(o, job);
    if (watch->parsed()) return cmd_watch(o, job, interval);
    if (cancel->parsed()) return cmd_cancel(o, job);
    if (submit->parsed()) return cmd_submit(o, file, name, max_cost);
    if (release->parsed()) return cmd_release(o, job);
    if (resume->parsed()) return cmd_resume(o, job);
    if (ledger->parsed()) return cmd_ledger(o, by, since, until);
    if (prices->parsed()) return cmd_prices(o, model);
    if (health->parsed()) return cmd_health(o);
    if (search->parsed()) return cmd_search(o, job, {{"query", text}, {"k", k}});
    if (similar->parsed()) return cmd_search(o, job, {{"like", custom_id}, {"k", k}});
  } catch (const std::exception& e) {
    std::cerr << "batchctl: " << e.what() << "\n";
    return 1;
  }
  return 2;
}
