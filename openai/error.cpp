#include "openai/error.hpp"

#include <cctype>
#include <nlohmann/json.hpp>

namespace batchd::openai {
namespace {

// An error message may quote the key back (OpenAI masks all but a few
// characters; a stand-in might not): every "sk-…" word is cut to "sk-…", so
// no part of a key reaches logs, SQLite, job.json or the control socket.
std::string redact_keys(std::string text) {
  for (std::size_t at = text.find("sk-"); at != std::string::npos; at = text.find("sk-", at + 4)) {
    std::size_t end = at + 3;
    while (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '-' ||
                                 text[end] == '_' || text[end] == '*' || text[end] == '.'))
      ++end;
    while (end > at + 3 && text[end - 1] == '.') --end;  // a sentence's full stop stays
    text.replace(at, end - at, "sk-…");
  }
  return text;
}

}  // namespace

api_error::api_error(kind k, int status, std::string what)
    : std::runtime_error(std::move(what)), kind_(k), status_(status) {}

api_error api_error::from_response(int status, const std::string& body, std::string request_id,
                                   std::optional<std::chrono::milliseconds> retry_after) {
  std::string type, code, message;
  std::optional<std::string> param;
  auto j = nlohmann::json::parse(body, nullptr, false);
  const bool envelope = j.is_object() && j.contains("error") && j["error"].is_object();
  if (envelope) {
    const auto& e = j["error"];
    auto text = [&](const char* key) {
      return e.contains(key) && e[key].is_string() ? e[key].get<std::string>() : std::string();
    };
    type = text("type");
    code = text("code");
    message = redact_keys(text("message"));
    if (e.contains("param") && e["param"].is_string()) param = e["param"].get<std::string>();
  } else {
    message = redact_keys(body.substr(0, 200));
  }
  std::string what = "HTTP " + std::to_string(status);
  if (!code.empty()) what += " " + code;
  if (!message.empty()) what += ": " + message;
  if (!request_id.empty()) what += " (request " + request_id + ")";
  api_error e(kind::http, status, what);
  e.type_ = std::move(type);
  e.code_ = std::move(code);
  e.message_ = std::move(message);
  e.param_ = std::move(param);
  e.request_id_ = std::move(request_id);
  e.retry_after_ = retry_after;
  e.envelope_ = envelope;
  return e;
}

api_error api_error::failure(kind k, const std::string& what, bool sent) {
  api_error e(k, 0, what);
  e.message_ = what;
  e.sent_ = sent && k != kind::config;  // a config failure stops the call before it is made
  return e;
}

bool api_error::retryable() const {
  switch (kind_) {
    case kind::transport:
    case kind::timeout:
    case kind::truncated: return true;
    case kind::tls:
    case kind::config: return false;
    case kind::http: break;
  }
  if (is_quota_exhausted(*this)) return false;
  return status_ == 408 || status_ == 409 || status_ == 429 || status_ >= 500;
}

call_effect effect_of(const api_error& e) {
  if (!e.sent()) return call_effect::refused;  // it never left: nothing can have been done
  // The API answered that it did nothing. A 4xx without the envelope may be
  // a proxy's page, not the API's word: it proves nothing either way.
  if (e.error_kind() == api_error::kind::http && e.status() >= 400 && e.status() < 500 && e.has_envelope())
    return call_effect::refused;
  return call_effect::unknown;
}

bool is_quota_exhausted(const api_error& e) {
  if (e.status() != 429) return false;
  for (const auto* word : {"insufficient_quota", "credit_balance_exhausted", "billing_hard_limit_reached",
                           "billing_not_active", "spend_limit", "spending_limit"})
    if (e.code().find(word) != std::string::npos || e.type().find(word) != std::string::npos) return true;
  return false;
}

bool is_rate_limited(const api_error& e) {
  if (e.error_kind() != api_error::kind::http || is_quota_exhausted(e)) return false;
  return e.status() == 429 || e.status() == 408 || e.status() == 409 || (e.status() == 503 && e.retry_after());
}

}  // namespace batchd::openai
