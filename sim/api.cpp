#include "sim/api.hpp"

#include <nlohmann/json.hpp>

#include "sim/api_error.hpp"
#include "sim/processor.hpp"

namespace batchd::sim {
namespace {

using nlohmann::json;

// The route pattern a path matches, for counting calls ("/v1/files/{file_id}").
std::string route_of(const http_request& req) {
  std::string route;
  std::string_view rest(req.path);
  int segment = 0;
  std::string_view collection;
  while (!rest.empty()) {
    rest.remove_prefix(1);
    const auto slash = rest.find('/');
    const auto seg = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
    ++segment;
    if (segment == 3 && (collection == "files" || collection == "batches"))
      route += collection == "files" ? "/{file_id}" : "/{batch_id}";
    else
      route += "/" + std::string(seg);
    if (segment == 2) collection = seg;
  }
  return req.method + " " + route;
}

std::string mask_key(const std::string& key) {
  if (key.size() < 12) return std::string(key.size(), '*');
  return key.substr(0, 3) + std::string(key.size() - 7, '*') + key.substr(key.size() - 4);
}

}  // namespace

api::api(const sim_options& options)
    : options_(options),
      clock_(options.time_scale),
      faults_(options.seed),
      ids_(options.seed),
      files_(options.data_dir),
      batches_({files_, faults_, ids_, stats_, options.timing}) {
  faults_.settings() = options.faults;
}

void api::tick() { batches_.advance_all(clock_.now()); }

transport_fault api::transport_fault_for(const http_request& req) {
  if (req.path.rfind("/v1/", 0) != 0) return {};
  return faults_.next_transport_fault();
}

std::optional<std::int64_t> api::lost_reply_for(const http_request& req, int status) {
  const bool create = req.method == "POST" && (req.path == "/v1/files" || req.path == "/v1/batches");
  if (!create || status < 200 || status >= 300 || !faults_.lose_reply()) return std::nullopt;
  return faults_.settings().lost_reply_delay_ms;
}

void api::count_call(const http_request& req, const std::string& outcome) {
  if (req.path.rfind("/v1/", 0) == 0) ++stats_.calls[route_of(req)][outcome];
}

void api::add_retry_after(http_response& r) const {
  const auto ms = faults_.settings().retry_after_ms;
  r.headers.emplace_back("retry-after-ms", std::to_string(ms));
  r.headers.emplace_back("retry-after", std::to_string(std::max<std::int64_t>(1, (ms + 999) / 1000)));
}

http_response api::slow_down() const {
  // API-FACTS §7: 503 "Slow Down", after a sudden jump in the request rate. Sent with a delay here.
  http_response r;
  r.status = 503;
  add_retry_after(r);
  r.body = error_body("Slow Down: please reduce your request rate to its original level, keep it steady, "
                      "then increase it gradually.",
                      "server_error", std::nullopt, "slow_down")
               .dump();
  return r;
}

http_response api::injected_error(int status) {
  http_response r;
  r.status = status;
  if (status == 429) {
    add_retry_after(r);
    r.body = error_body("Rate limit reached for requests per min (RPM): Limit 500, Used 500, "
                        "Requested 1. Please try again later.",
                        "requests", "requests", "rate_limit_exceeded")
                 .dump();
  } else if (status == 503) {
    r.body = error_body("The engine is currently overloaded, please try again later.",
                        "server_error", std::nullopt, std::nullopt)
                 .dump();
  } else {
    r.body = error_body("The server had an error while processing your request. Sorry about that!",
                        "server_error", std::nullopt, std::nullopt)
                 .dump();
  }
  return r;
}

http_response api::quota_refusal() {
  // API-FACTS §7: quota 429s need user action, so they carry no Retry-After.
  return {429, "application/json", {},
          error_body("You exceeded your current quota, please check your plan and billing details.",
                     "insufficient_quota", std::nullopt, "insufficient_quota")
              .dump(),
          {}};
}

std::optional<http_response> api::refuse_create(std::vector<create_attempt>& log, bool upload) {
  const double now = clock_.now();
  const int refusal = faults_.create_refusal(upload);
  if (refusal == 0) return std::nullopt;
  if (refusal < 0) {
    log.push_back({now, "dropped"});
    return http_response{0, "", {}, {}, {}};  // closed with no answer: nothing was made
  }
  log.push_back({now, std::to_string(refusal)});
  return refusal == 503 ? slow_down() : injected_error(refusal);
}

void api::check_auth(const http_request& req) const {
  constexpr std::string_view bearer = "Bearer ";
  if (req.authorization.rfind(bearer, 0) != 0 || req.authorization.size() == bearer.size())
    throw api_exception(401,
                        "You didn't provide an API key. You need to provide your API key in an "
                        "Authorization header using Bearer auth (i.e. Authorization: Bearer "
                        "YOUR_KEY).");
  const auto key = req.authorization.substr(bearer.size());
  if (key != options_.api_key)
    throw api_exception(401,
                        "Incorrect API key provided: " + mask_key(key) +
                            ". You can find your API key at "
                            "https://platform.openai.com/account/api-keys.",
                        std::nullopt, "invalid_api_key");
}

http_response api::handle(const http_request& req, upload_sink* upload) {
  try {
    return dispatch(req, upload);
  } catch (const api_exception& e) {
    return {e.status, "application/json", {}, e.body.dump(), {}};
  } catch (const std::exception& e) {
    return {500, "application/json", {},
            error_body("The server had an error while processing your request.", "server_error",
                       std::nullopt, std::nullopt)
                .dump(),
            {}};
  }
}

http_response api::dispatch(const http_request& req, upload_sink* upload) {
  if (req.path.rfind("/admin/", 0) == 0) return admin(req);
  if (req.path.rfind("/v1/", 0) != 0 && req.path != "/v1")
    throw api_exception(404, "Invalid URL (" + req.method + " " + req.path + ")");
  check_auth(req);

  const auto route = route_of(req);
  const auto id = [&] {
    auto parts = req.path.substr(4);  // after "/v1/"
    auto first = parts.find('/');
    auto rest = parts.substr(first + 1);
    return rest.substr(0, rest.find('/'));
  };
  auto as_json = [](const auto& v) {
    json j = v;
    return http_response{200, "application/json", {}, j.dump(), {}};
  };
  const double now = clock_.now();

  if (route == "POST /v1/files") return create_file(upload);
  if (route == "GET /v1/files") return list_files(req);
  if (route == "GET /v1/files/{file_id}") return as_json(visible_file(id()));
  if (route == "GET /v1/files/{file_id}/content") {
    const auto& f = visible_file(id());
    return {200, "application/octet-stream", {}, {}, f.path};
  }
  if (route == "DELETE /v1/files/{file_id}") {
    const auto file_id = visible_file(id()).id;
    files_.remove(file_id);
    return as_json(json{{"id", file_id}, {"object", "file"}, {"deleted", true}});
  }
  if (route == "POST /v1/batches") return create_batch(req);
  if (route == "GET /v1/batches") return list_batches(req);
  if (route == "GET /v1/batches/{batch_id}") {
    auto& b = visible_batch(id());
    stats_.batch_first_read.try_emplace(b.id, now);
    batches_.advance(b, now);
    return as_json(b);
  }
  if (route == "POST /v1/batches/{batch_id}/cancel") {
    auto& b = visible_batch(id());
    if (!batches_.cancel(b, now))
      throw api_exception(400, std::string("Cannot cancel a batch with status '") +
                                   to_string(b.status) + "'.");
    return as_json(b);
  }
  if (req.method == "POST" && is_supported_endpoint(req.path)) return serve(req.path, req);
  throw api_exception(404, "Invalid URL (" + req.method + " " + req.path + ")");
}

http_response api::serve(const std::string& endpoint, const http_request& req) {
  if (faults_.settings().insufficient_quota) return quota_refusal();
  auto body = json::parse(req.body, nullptr, false);
  if (body.is_discarded())
    throw api_exception(400,
                        "We could not parse the JSON body of your request. (HINT: This likely "
                        "means you aren't using your HTTP library correctly.)");
  auto r = run_request(endpoint, body, {clock_.now_s(), ids_.next(), faults_.settings().cache_hit_rate});
  if (r.status == 200) {
    auto& u = stats_.sync_usage[r.model];
    ++u.requests;
    u.prompt_tokens += r.prompt_tokens;
    u.cached_tokens += r.cached_tokens;
    u.completion_tokens += r.completion_tokens;
    u.reasoning_tokens += r.reasoning_tokens;
    u.image_tokens += r.image_tokens;
  }
  return {r.status, "application/json", {}, r.body.dump(), {}};
}

http_response api::admin(const http_request& req) {
  auto ok = [](const json& j) { return http_response{200, "application/json", {}, j.dump(), {}}; };
  if (req.method == "GET" && req.path == "/admin/health") return ok({{"status", "ok"}});
  if (req.method == "GET" && req.path == "/admin/stats") return ok(stats_);
  if (req.method == "POST" && req.path == "/admin/reset") {
    stats_ = {};
    return ok(stats_);
  }
  if (req.path == "/admin/faults") {
    if (req.method == "POST") {
      auto body = json::parse(req.body, nullptr, false);
      if (body.is_discarded()) throw api_exception(400, "faults: body is not JSON");
      try {
        merge_faults(faults_.settings(), body);
      } catch (const std::invalid_argument& e) {
        throw api_exception(400, e.what());
      }
    }
    if (req.method == "GET" || req.method == "POST") return ok(faults_.settings());
  }
  throw api_exception(404, "Invalid URL (" + req.method + " " + req.path + ")");
}

}  // namespace batchd::sim
