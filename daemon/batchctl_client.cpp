#include "daemon/batchctl_client.hpp"

#include <algorithm>
#include <cctype>
#include <iostream>

#include "daemon/unix_http_client.hpp"

namespace batchctl {

using batchd::daemon::unix_http;

std::chrono::milliseconds timeout_of(const options& o) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout_s * 1000));
}

std::string url_encode(const std::string& s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 15];
    }
  }
  return out;
}

// Calls a route; a non-2xx answer becomes a failure carrying the envelope's message.
json call(const options& o, const std::string& method, const std::string& target, const std::string& body,
          const std::string& content_type) {
  const auto r = unix_http(o.socket, method, target, body, content_type, timeout_of(o));
  if (r.status >= 200 && r.status < 300) {
    if (o.json_out) std::cout << r.body << (r.body.empty() || r.body.back() != '\n' ? "\n" : "");
    return json::parse(r.body, nullptr, false);
  }
  if (o.json_out) std::cout << r.body << (r.body.empty() || r.body.back() != '\n' ? "\n" : "");
  auto j = json::parse(r.body, nullptr, false);
  std::string msg = "HTTP " + std::to_string(r.status);
  if (!j.is_discarded() && j.contains("error")) msg = j["error"].value("message", msg);
  if (!j.is_discarded() && j.contains("error") && j["error"].contains("details")) {
    const auto& d = j["error"]["details"];
    for (const auto& e : d.value("errors", json::array()))
      msg += "\n  line " + std::to_string(e.value("line", 0)) + ": " + e.value("message", "");
    if (d.contains("fix")) msg += "\n  fix: " + d["fix"].get<std::string>();
  }
  throw failure(msg);
}

std::string str(const json& j, const char* key, const std::string& fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i)
      line += i + 1 == r.size() ? r[i] : r[i] + std::string(width[i] - r[i].size() + 2, ' ');
    std::cout << line << "\n";
  }
}

}  // namespace batchctl
