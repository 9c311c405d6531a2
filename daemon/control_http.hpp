#pragma once
// One request to the control socket and its answer, as plain data: the
// routes never see Beast, the server never sees a route.
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <vector>

#include "daemon/control_socket.hpp"

namespace batchd::daemon {

struct control_request {
  std::string method;  // "GET", "POST", …
  std::string target;  // path and query, as sent
  std::string body;
  peer_credentials peer;
};

struct control_response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// A route may wait: a submitted file is validated before the answer.
using control_handler = std::function<boost::asio::awaitable<control_response>(control_request)>;

// The one error envelope: {"error": {"code": …, "message": …}}.
control_response error_response(int status, const std::string& code, const std::string& message);
// A JSON answer, one line.
control_response json_response(const nlohmann::json& body, int status = 200);

}  // namespace batchd::daemon
