#include "error.hpp"

#include <nlohmann/json.hpp>

namespace batchd::openai {

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
    message = text("message");
    if (e.contains("param") && e["param"].is_string()) param = e["param"].get<std::string>();
  } else {
    message = body.substr(0, 200);
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
