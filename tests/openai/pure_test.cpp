// The parts of the client that need no network: backoff, server delays,
// classification, the rate limiter's arithmetic, JSON parsing.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "openai/error.hpp"
#include "openai/json_types.hpp"
#include "openai/rate_limiter.hpp"
#include "openai/retry.hpp"

namespace batchd::openai {
namespace {

using namespace std::chrono_literals;

TEST(retry, full_jitter_backoff_is_capped) {
  retry_policy p;
  EXPECT_EQ(backoff(p, 0, 0.0), 0ms);
  EXPECT_EQ(backoff(p, 0, 1.0), 500ms);
  EXPECT_EQ(backoff(p, 3, 1.0), 4000ms);
  EXPECT_EQ(backoff(p, 10, 1.0), 8000ms);
  EXPECT_LE(backoff(p, 10, 0.5), 4000ms);
}

TEST(retry, server_delay_prefers_milliseconds) {
  EXPECT_EQ(server_delay("250", "3"), 250ms);
  EXPECT_EQ(server_delay("", "3"), 3000ms);
  EXPECT_EQ(server_delay("", "0.5"), 500ms);
  EXPECT_EQ(server_delay("", "Wed, 21 Oct 2015 07:28:00 GMT"), std::nullopt);
  EXPECT_EQ(server_delay("-5", ""), std::nullopt);
}

TEST(error, classification) {
  auto envelope = [](const char* type, const char* code) {
    return nlohmann::json{{"error", {{"message", "m"}, {"type", type}, {"param", nullptr}, {"code", code}}}}.dump();
  };
  EXPECT_TRUE(api_error::from_response(429, envelope("requests", "rate_limit_exceeded"), "r").retryable());
  EXPECT_FALSE(api_error::from_response(429, envelope("insufficient_quota", "insufficient_quota"), "r").retryable());
  for (int s : {408, 409, 500, 502, 503}) EXPECT_TRUE(api_error::from_response(s, "", "").retryable()) << s;
  for (int s : {400, 401, 403, 404}) EXPECT_FALSE(api_error::from_response(s, "", "").retryable()) << s;
  EXPECT_TRUE(api_error::failure(api_error::kind::truncated, "x").retryable());
  EXPECT_FALSE(api_error::failure(api_error::kind::tls, "x").retryable());
  auto e = api_error::from_response(400, envelope("invalid_request_error", "bad"), "req_1");
  EXPECT_EQ(e.code(), "bad");
  EXPECT_EQ(e.request_id(), "req_1");
  EXPECT_NE(std::string(e.what()).find("req_1"), std::string::npos);
}

// The three outcomes of a call with a side effect, row by row: only an
// answer from the API that says it did nothing is "refused"; a 5xx, a cut
// or a page that is not the API's own is "unknown" (it may have happened).
TEST(error, effect_of_a_failed_create) {
  auto envelope = [](const char* type, const char* code) {
    return nlohmann::json{{"error", {{"message", "m"}, {"type", type}, {"param", nullptr}, {"code", code}}}}.dump();
  };
  struct row {
    int status;
    std::string body;
    call_effect effect;
    bool quota, rate_limited;
  };
  const auto rate = envelope("requests", "rate_limit_exceeded");
  const row rows[] = {
      {429, rate, call_effect::refused, false, true},
      {429, envelope("insufficient_quota", "insufficient_quota"), call_effect::refused, true, false},
      {429, envelope("invalid_request_error", "credit_balance_exhausted"), call_effect::refused, true, false},
      {400, envelope("invalid_request_error", "token_limit_exceeded"), call_effect::refused, false, false},
      {400, envelope("invalid_request_error", "invalid_value"), call_effect::refused, false, false},
      {401, envelope("invalid_request_error", "invalid_api_key"), call_effect::refused, false, false},
      {403, envelope("invalid_request_error", "unsupported_country_region_territory"), call_effect::refused, false,
       false},
      {404, envelope("invalid_request_error", "not_found"), call_effect::refused, false, false},
      {409, envelope("invalid_request_error", "conflict"), call_effect::refused, false, true},
      {422, envelope("invalid_request_error", "unprocessable"), call_effect::refused, false, false},
      {429, "<html>Too Many Requests</html>", call_effect::unknown, false, true},  // not the API's word
      {500, envelope("server_error", ""), call_effect::unknown, false, false},
      {502, "", call_effect::unknown, false, false},
      {503, envelope("server_error", ""), call_effect::unknown, false, false},
  };
  for (const auto& r : rows) {
    const auto e = api_error::from_response(r.status, r.body, "");
    EXPECT_EQ(effect_of(e), r.effect) << r.status << " " << r.body;
    EXPECT_EQ(is_quota_exhausted(e), r.quota) << r.status << " " << r.body;
    EXPECT_EQ(is_rate_limited(e), r.rate_limited) << r.status << " " << r.body;
  }
  // A 503 that says when to come back is a rate limit too (API-FACTS §7 "Slow Down").
  const auto slow = api_error::from_response(503, envelope("server_error", ""), "", 2000ms);
  EXPECT_TRUE(is_rate_limited(slow));
  EXPECT_EQ(effect_of(slow), call_effect::unknown);
  EXPECT_EQ(slow.retry_after(), 2000ms);
  EXPECT_EQ(effect_of(api_error::failure(api_error::kind::config, "cannot read the file")), call_effect::refused);
  EXPECT_EQ(effect_of(api_error::failure(api_error::kind::transport, "receive: reset")), call_effect::unknown);
}

TEST(error, no_part_of_a_key_survives_in_the_message) {
  const auto body = nlohmann::json{{"error",
                                    {{"message", "Incorrect API key provided: sk-pro*******wxyz. Or sk-live-ABC_123 in full."},
                                     {"type", "invalid_request_error"},
                                     {"param", nullptr},
                                     {"code", "invalid_api_key"}}}}
                        .dump();
  const auto e = api_error::from_response(401, body, "r");
  EXPECT_EQ(e.message(), "Incorrect API key provided: sk-…. Or sk-… in full.");
  EXPECT_EQ(std::string(e.what()).find("wxyz"), std::string::npos);
  EXPECT_EQ(std::string(api_error::from_response(500, "oops sk-secret123", "").what()).find("secret"), std::string::npos);
}

TEST(rate_limiter, spaces_requests_after_the_burst) {
  rate_limiter r(10, 2);
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  EXPECT_EQ(r.reserve(t0), 0ms);
  EXPECT_EQ(r.reserve(t0), 0ms);
  EXPECT_EQ(r.reserve(t0), 100ms);
  EXPECT_EQ(r.reserve(t0), 200ms);
  EXPECT_EQ(r.reserve(t0 + 10s), 0ms) << "idle time refills the bucket";
}

TEST(json_types, batch_with_nulls_and_errors) {
  auto b = parse_batch(nlohmann::json::parse(R"({
    "id": "batch_1", "object": "batch", "endpoint": "/v1/embeddings", "status": "failed",
    "input_file_id": "file-1", "completion_window": "24h", "created_at": 10, "failed_at": 20,
    "output_file_id": null, "in_progress_at": null, "metadata": {"job": "j"},
    "errors": {"object": "list", "data": [{"code": "token_limit_exceeded", "message": "Limit: 5", "param": null, "line": null}]},
    "request_counts": {"total": 0, "completed": 0, "failed": 0}})"));
  EXPECT_EQ(b.status, "failed");
  EXPECT_TRUE(b.is_terminal());
  EXPECT_FALSE(b.output_file_id);
  EXPECT_EQ(b.failed_at, 20);
  ASSERT_EQ(b.errors.size(), 1u);
  EXPECT_EQ(b.errors[0].code, "token_limit_exceeded");
  EXPECT_FALSE(b.errors[0].line);
  EXPECT_EQ(b.metadata.at("job"), "j");
  EXPECT_FALSE(b.usage) << "batches created before 2025-09-07 carry no usage";
}

TEST(json_types, batch_usage_as_the_spec_gives_it) {
  auto b = parse_batch(nlohmann::json::parse(R"({
    "id": "batch_2", "object": "batch", "endpoint": "/v1/chat/completions", "status": "completed",
    "input_file_id": "file-1", "completion_window": "24h", "created_at": 10,
    "request_counts": {"total": 2, "completed": 2, "failed": 0},
    "usage": {"input_tokens": 1200, "input_tokens_details": {"cached_tokens": 256}, "output_tokens": 80,
              "output_tokens_details": {"reasoning_tokens": 16}, "total_tokens": 1280}})"));
  ASSERT_TRUE(b.usage);
  EXPECT_EQ(b.usage->input_tokens, 1200);
  EXPECT_EQ(b.usage->cached_tokens, 256);
  EXPECT_EQ(b.usage->output_tokens, 80);
  EXPECT_EQ(b.usage->reasoning_tokens, 16);
  EXPECT_EQ(b.usage->total_tokens, 1280);
}

}  // namespace
}  // namespace batchd::openai

// The transport error table (transport.cpp), row by row: what each failed
// step means, and whether the call may be tried again.
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <openssl/ssl.h>

#include "openai/transport.hpp"

namespace batchd::openai {
namespace {

TEST(error, transport_table) {
  namespace asio = boost::asio;
  namespace http = boost::beast::http;
  using k = api_error::kind;
  struct row {
    boost::system::error_code ec;
    const char* step;
    k kind;
    bool retryable;
    call_effect effect = call_effect::unknown;  // for a create that failed so
  };
  const boost::system::error_code tls_alert(static_cast<int>(SSL_R_CERTIFICATE_VERIFY_FAILED),
                                            asio::error::get_ssl_category());
  const row rows[] = {
      {boost::beast::error::timeout, "receive", k::timeout, true},
      {asio::ssl::error::stream_truncated, "receive", k::truncated, true},  // cut without close_notify
      {asio::error::connection_reset, "receive", k::transport, true},
      {asio::error::eof, "receive", k::transport, true},
      {http::error::end_of_stream, "receive", k::transport, true},
      {http::error::partial_message, "receive", k::truncated, true},
      {asio::error::connection_refused, "connect", k::transport, true, call_effect::refused},  // nothing left
      {boost::beast::error::timeout, "connect", k::timeout, true, call_effect::refused},
      {asio::error::broken_pipe, "send", k::transport, true},
      {tls_alert, "TLS handshake", k::tls, false, call_effect::refused},  // not who it should be: final
      {boost::system::error_code(static_cast<int>(SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE), asio::error::get_ssl_category()),
       "TLS handshake", k::transport, true, call_effect::refused},  // an alert (a middlebox, an overloaded peer) may pass
      {tls_alert, "receive", k::transport, true},    // mid-stream: the connection broke
  };
  for (const auto& r : rows) {
    const auto e = transport_error(r.ec, r.step);
    EXPECT_EQ(e.error_kind(), r.kind) << r.step << ": " << r.ec.message();
    EXPECT_EQ(e.retryable(), r.retryable) << r.step << ": " << r.ec.message();
    EXPECT_EQ(e.status(), 0) << "no answer came";
    EXPECT_EQ(effect_of(e), r.effect) << r.step << ": " << r.ec.message();
  }
}

}  // namespace
}  // namespace batchd::openai
