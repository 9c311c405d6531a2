#include "daemon/control_search.hpp"

#include <nlohmann/json.hpp>

#include "jobs/core/job_spec.hpp"
#include "jobs/core/spool.hpp"
#include "store/database.hpp"
#include "vectors/vector_queries.hpp"

namespace batchd::daemon {
using nlohmann::json;

boost::asio::awaitable<control_response> search_route(vectors::vector_queries& vectors, store::database& db,
                                                      const jobs::spool& dirs, std::string job, std::string body_text,
                                                      bool may_pay, control_response refused) {
  const auto body = json::parse(body_text, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    co_return error_response(400, "invalid_json", R"(the body must be {"query": "text"} or {"like": "custom_id"}, with "k")");
  const auto row = db.job_by_name(job);
  if (!row) co_return error_response(404, "unknown_job", "no job named '" + job + "'");
  const auto spec = jobs::job_spec::parse(row->spec);
  if (!spec.writes_vectors())
    co_return error_response(409, "no_vectors",
                             "job '" + job + "' has no vector file; an embeddings manifest with \"output\": \"npy\" or "
                             "\"both\" makes one");
  const vectors::search_target target{row->id, row->name, dirs.outbox / row->name, row->model.value_or(spec.model)};
  vectors::search_request r;
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
    ok.body = (co_await vectors.search(target, std::move(r))).dump() + "\n";
    co_return ok;
  } catch (const vectors::search_refusal& e) {
    co_return error_response(e.status, e.code, e.what());
  } catch (const std::exception& e) {
    co_return error_response(500, "search_failed", e.what());
  }
}

}  // namespace batchd::daemon
