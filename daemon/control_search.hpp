#pragma once
// POST /v1/jobs/{job}/search: {"query": text} or {"like": custom_id}, and "k".
#include <boost/asio/awaitable.hpp>
#include <string>

#include "control_http.hpp"

namespace batchd::jobs {
class vector_queries;
}

namespace batchd::daemon {

// A query is a paid API call: without `may_pay` it gets `refused` (a
// `like`, which calls nothing, is open to every peer that may read).
boost::asio::awaitable<control_response> search_route(jobs::vector_queries& vectors, std::string job,
                                                      std::string body, bool may_pay, control_response refused);

}  // namespace batchd::daemon
