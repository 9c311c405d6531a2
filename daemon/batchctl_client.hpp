#pragma once
// batchctl's plumbing, shared by its commands: the options every command
// takes, one call to a route (a non-2xx answer throws the envelope's
// message), and plain tables for people.
#include <chrono>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace batchctl {

using nlohmann::json;

struct options {
  std::string socket = "/run/batchd/batchd.sock";
  bool json_out = false;
  double timeout_s = 30;  // for each request
};

struct failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::chrono::milliseconds timeout_of(const options& o);
std::string url_encode(const std::string& s);
// Calls a route; with --json prints its body unchanged.
json call(const options& o, const std::string& method, const std::string& target, const std::string& body = {},
          const std::string& content_type = "application/json");
// j[key] as text, `fallback` when absent or null.
std::string str(const json& j, const char* key, const std::string& fallback = "-");
void print_table(const std::vector<std::vector<std::string>>& rows);

// The money commands (batchctl_money.cpp).
int cmd_ledger(const options& o, const std::string& by, const std::string& since, const std::string& until);
int cmd_prices(const options& o, const std::string& model);

}  // namespace batchctl
