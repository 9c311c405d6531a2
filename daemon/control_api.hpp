#pragma once
// The control socket's routes (DESIGN.md): health, jobs, submit, cancel,
// ledger, metrics, and search over a job's vector file. Plain data in, plain data out; the server does the HTTP.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "daemon/control_http.hpp"

namespace batchd::store {
class database;
}
namespace batchd::openai {
class client;
}
namespace batchd::jobs {
class pipeline;
struct spool;
}  // namespace batchd::jobs
namespace batchd::io {
class clock;
class worker_pool;
}  // namespace batchd::io
namespace batchd::vectors {
class vector_queries;
}

namespace batchd::daemon {

struct control_context {
  store::database& db;
  jobs::pipeline& runner;
  const jobs::spool& dirs;
  const openai::client& api;
  const io::clock& clock;
  std::optional<gid_t> group;  // besides root and the service user, who may submit, cancel and release
  std::string api_base;
  std::function<std::size_t()> connections;  // open control connections, for /metrics
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  vectors::vector_queries* vectors = nullptr;  // POST /v1/jobs/{job}/search
  io::worker_pool* pool = nullptr;        // set by main: writes a submitted body (up to control.max_body_bytes) off the loop
};

control_handler make_control_api(control_context ctx);

// How large a body a request may carry: `max_submit` for POST /v1/jobs by a
// peer that may submit, 64 KiB otherwise (bodies of other routes are small).
std::uint64_t control_body_limit(const std::string& method, const std::string& target,
                                 const peer_credentials& peer, std::optional<gid_t> group, std::uint64_t max_submit);

}  // namespace batchd::daemon
