#include "error.hpp"

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

api_error api_error::from_response(int status, const std::string& body, std::string request_id) {
  std::string type, code, message;
  std::optional<std::string> param;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
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
  return e;
}

api_error api_error::failure(kind k, const std::string& what) {
  api_error e(k, 0, what);
  e.message_ = what;
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
  if (code_ == "insufficient_quota" || type_ == "insufficient_quota") return false;
  return status_ == 408 || status_ == 409 || status_ == 429 || status_ >= 500;
}

}  // namespace batchd::openai
