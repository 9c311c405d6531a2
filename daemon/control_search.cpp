#include "control_search.hpp"

#include <nlohmann/json.hpp>

#include "vector_queries.hpp"

namespace batchd::daemon {
using nlohmann::json;

boost::asio::awaitable<control_response> search_route(jobs::vector_queries& vectors, std::string job,
                                                      std::string body_text, bool may_pay, control_response refused) {
  const auto body = json::parse(body_text, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    co_return error_response(400, "invalid_json", R"(the body must be {"query": "text"} or {"like": "custom_id"}, with "k")");
  jobs::search_request r;
  r.job = std::move(job);
  try {
    if (body.contains("query")) r.query = body["query"].get<std::string>();
    if (body.contains("like")) r.like = body["like"].get<std::string>();
    if (body.contains("k")) r.k = body["k"].get<std::size_t>();
  } catch (const json::exception&) {
    co_return error_response(400, "invalid_parameter", "query and like are strings, k a whole number");
  }
  if (r.query && !may_pay) co_return refused;
  try {
    control_response ok;
    ok.body = (co_await vectors.search(std::move(r))).dump() + "\n";
    co_return ok;
  } catch (const jobs::search_refusal& e) {
    co_return error_response(e.status, e.code, e.what());
  } catch (const std::exception& e) {
    co_return error_response(500, "search_failed", e.what());
  }
}

}  // namespace batchd::daemon
