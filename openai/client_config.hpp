#pragma once
// How the API client reaches the API: its own header, so the daemon's
// configuration holds it as it is without pulling in the client.
#include <chrono>
#include <filesystem>
#include <string>

#include "retry.hpp"

namespace batchd::openai {

struct client_config {
  std::string base_url = "https://api.openai.com/v1";
  std::string api_key;
  std::string organization, project;  // sent only when set
  std::filesystem::path ca_file;      // trusted besides the system store
  double requests_per_second = 20;
  int burst = 5;
  retry_policy retry;
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds request_timeout{600'000};
};

}  // namespace batchd::openai
