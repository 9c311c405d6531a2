#pragma once
// The one error type of the client: an HTTP error with the API's envelope,
// or a transport failure (connect, reset, timeout, truncated body), with the
// classification that decides whether a retry can help.
#include <optional>
#include <stdexcept>
#include <string>

namespace batchd::openai {

class api_error : public std::runtime_error {
 public:
  enum class kind { http, transport, timeout, truncated, tls, config };

  // An HTTP response with status >= 400; `body` is parsed for the envelope.
  static api_error from_response(int status, const std::string& body, std::string request_id);
  static api_error failure(kind k, const std::string& what);

  kind error_kind() const { return kind_; }
  int status() const { return status_; }  // 0 when no response came
  const std::string& type() const { return type_; }
  const std::string& code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::optional<std::string>& param() const { return param_; }
  const std::string& request_id() const { return request_id_; }

  // Worth trying again: 408, 409, 429 (not insufficient_quota), 5xx,
  // connection failures, timeouts, truncated bodies. Final: the rest.
  bool retryable() const;

 private:
  api_error(kind k, int status, std::string what);
  kind kind_;
  int status_;
  std::string type_, code_, message_, request_id_;
  std::optional<std::string> param_;
};

}  // namespace batchd::openai
