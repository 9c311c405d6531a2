#pragma once
// How the API client reaches the API: its own header, so the daemon's
// configuration holds it as it is without pulling in the client.
#include <chrono>
#include <boost/asio/awaitable.hpp>
#include <filesystem>
#include <functional>
#include <string>

#include "openai/retry.hpp"

namespace batchd::openai {

struct client_config {
  std::string base_url = "https://api.openai.com/v1";
  std::string api_key;
  std::string organization, project;  // sent only when set
  std::filesystem::path ca_file;      // trusted besides the system store
  double requests_per_second = 20;
  int burst = 5;
  retry_policy retry;
  // Timeouts measure progress, never a whole transfer: a download that keeps
  // moving is not cut however long it takes.
  std::chrono::milliseconds connect_timeout{10'000};     // TCP connect and TLS handshake
  std::chrono::milliseconds idle_timeout{60'000};        // no byte moved, while a body goes either way
  std::chrono::milliseconds first_byte_timeout{120'000};  // the request sent, no response header yet
  std::chrono::milliseconds request_timeout{600'000};    // connect and send the request's head
  // API time runs this many times faster than real time (tests and the demo,
  // against a simulator on a scaled clock): the client's waits — its own
  // backoff and the server's Retry-After, both in API time — shrink by it.
  double time_scale = 1;
  // Runs a blocking call (an fsync of a download) off the event loop and
  // resumes the caller on it; inline when unset.
  std::function<boost::asio::awaitable<void>(std::function<void()>)> offload;
};

}  // namespace batchd::openai
