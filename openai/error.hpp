#pragma once
// The one error type of the client: an HTTP error with the API's envelope,
// or a transport failure (connect, reset, timeout, truncated body), with the
// classification that decides whether a retry can help.
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

namespace batchd::openai {

// What a call with a side effect (an upload, a batch create, a cancel, a
// delete) did, as far as its caller can know. The one place that decides it
// is effect_of().
enum class call_effect {
  done,     // an answer with the object: it happened
  refused,  // nothing was done: an HTTP 4xx with the API's error envelope, or the request never left
  unknown,  // no answer, a cut connection, a timeout or a 5xx after the request was sent: it may have happened
};

class api_error : public std::runtime_error {
 public:
  enum class kind { http, transport, timeout, truncated, tls, config };

  // An HTTP response with status >= 400; `body` is parsed for the envelope.
  // `retry_after`: the server's delay (retry-after-ms, else retry-after), if it sent one.
  static api_error from_response(int status, const std::string& body, std::string request_id,
                                 std::optional<std::chrono::milliseconds> retry_after = std::nullopt);
  // A transport failure; `sent`: whether any of the request may have reached the server.
  static api_error failure(kind k, const std::string& what, bool sent = true);

  kind error_kind() const { return kind_; }
  int status() const { return status_; }  // 0 when no response came
  const std::string& type() const { return type_; }
  const std::string& code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::optional<std::string>& param() const { return param_; }
  const std::string& request_id() const { return request_id_; }
  // The server's Retry-After as it sent it (API time, uncapped), if any.
  const std::optional<std::chrono::milliseconds>& retry_after() const { return retry_after_; }
  // Whether the request may have reached the server: false when connecting
  // (resolve, connect, TLS handshake) failed, or the call was never made.
  bool sent() const { return sent_; }
  // Whether the answer carried the API's error envelope ({"error": {...}}).
  bool has_envelope() const { return envelope_; }

  // Worth trying again: 408, 409, 429 (not insufficient_quota), 5xx,
  // connection failures, timeouts, truncated bodies. Final: the rest.
  bool retryable() const;

 private:
  api_error(kind k, int status, std::string what);
  kind kind_;
  int status_;
  std::string type_, code_, message_, request_id_;
  std::optional<std::string> param_;
  std::optional<std::chrono::milliseconds> retry_after_;
  bool sent_ = true;
  bool envelope_ = false;
};

// done / refused / unknown for a call with a side effect that failed with `e`.
call_effect effect_of(const api_error& e);

// A 429 that waiting does not mend: the account is out of quota or credit
// (insufficient_quota, credit_balance_exhausted, a billing or spend limit).
// API-FACTS §7: such 429s carry no Retry-After and need the operator.
bool is_quota_exhausted(const api_error& e);

// A refusal that says "not now" rather than "not this": a rate limit (429,
// not quota), 408, 409, or a 503 with the server's Retry-After.
bool is_rate_limited(const api_error& e);

}  // namespace batchd::openai
