#pragma once
// POST /v1/jobs/{job}/search: {"query": text} or {"like": custom_id}, and "k".
#include <boost/asio/awaitable.hpp>
#include <string>

#include "daemon/control_http.hpp"

namespace batchd::vectors {
class vector_queries;
}
namespace batchd::store {
class database;
}
namespace batchd::jobs {
struct spool;
}

namespace batchd::daemon {

// A query is a paid API call: without `may_pay` it gets `refused` (a
// `like`, which calls nothing, is open to every peer that may read). The
// job is looked up here: 404 unknown_job, 409 no_vectors for a job whose
// manifest writes no vector file.
boost::asio::awaitable<control_response> search_route(vectors::vector_queries& vectors, store::database& db,
                                                      const jobs::spool& dirs, std::string job, std::string body,
                                                      bool may_pay, control_response refused);

}  // namespace batchd::daemon
