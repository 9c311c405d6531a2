#pragma once
// The simulator's view of HTTP, free of Beast: routes are plain functions of
// a request, and only http_server.cpp touches the wire.
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace batchd::sim {

struct http_request {
  std::string method;  // "GET", "POST", …
  std::string path;    // without the query
  std::map<std::string, std::string> query;
  std::string authorization;
  std::string content_type;
  std::string body;  // JSON bodies; a file upload is streamed to an upload_sink instead
};

struct http_response {
  int status = 200;  // 0: close the connection with no answer (a dropped request)
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::filesystem::path file;  // when set, the body is this file's content
};

// Receives a request body as it arrives.
class upload_sink {
 public:
  virtual ~upload_sink() = default;
  virtual void write(std::string_view bytes) = 0;
};

// Splits "a=1&b=x%20y" into a map, percent-decoding keys and values.
std::map<std::string, std::string> parse_query(std::string_view query);

}  // namespace batchd::sim
