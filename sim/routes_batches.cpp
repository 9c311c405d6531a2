// POST /v1/batches: the checks the service makes before it answers; the rest
// of a batch's validation happens later, while it is `validating`.
#include <nlohmann/json.hpp>
#include <set>

#include "sim/api.hpp"
#include "sim/api_error.hpp"

namespace batchd::sim {
namespace {

using nlohmann::json;

void check_metadata(const json& m) {
  if (m.is_null()) return;
  if (!m.is_object())
    throw api_exception(400, "Invalid type for 'metadata': expected an object.", "metadata");
  if (m.size() > 16)
    throw api_exception(400, "Invalid 'metadata': too many properties. Expected at most 16.",
                        "metadata");
  for (const auto& [k, v] : m.items()) {
    if (k.size() > 64)
      throw api_exception(400, "Invalid 'metadata': key '" + k.substr(0, 64) +
                                   "…' is longer than 64 characters.",
                          "metadata");
    if (!v.is_string())
      throw api_exception(400, "Invalid 'metadata." + k + "': expected a string.", "metadata");
    if (v.get_ref<const std::string&>().size() > 512)
      throw api_exception(400, "Invalid 'metadata." + k + "': longer than 512 characters.",
                          "metadata");
  }
}

void check_output_expiry(const json& e) {
  if (e.is_null()) return;
  if (!e.is_object() || e.value("anchor", "") != "created_at" || !e.contains("seconds") ||
      !e["seconds"].is_number_integer() || e["seconds"].get<std::int64_t>() < 3600 ||
      e["seconds"].get<std::int64_t>() > 2592000)
    throw api_exception(400,
                        "Invalid 'output_expires_after': anchor must be 'created_at' and seconds "
                        "between 3600 and 2592000.",
                        "output_expires_after");
}

}  // namespace

http_response api::create_batch(const http_request& req) {
  auto body = json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    throw api_exception(400,
                        "We could not parse the JSON body of your request. (HINT: This likely "
                        "means you aren't using your HTTP library correctly.)");
  auto& attempts = stats_.batch_attempts[body.value("metadata", json(nullptr)).dump()];
  if (faults_.settings().insufficient_quota) {
    attempts.push_back({clock_.now(), "429"});
    return quota_refusal();
  }
  if (auto refused = refuse_create(attempts, false)) return *refused;
  static const std::set<std::string> known = {"input_file_id", "endpoint", "completion_window",
                                              "metadata", "output_expires_after"};
  for (const auto& [k, _] : body.items())
    if (!known.count(k)) throw api_exception(400, "Unrecognized request argument supplied: " + k);
  for (const char* required : {"input_file_id", "endpoint", "completion_window"})
    if (!body.contains(required))
      throw api_exception(400, std::string("Missing required parameter: '") + required + "'.",
                          required);
  static const std::set<std::string> endpoints = {
      "/v1/responses",  "/v1/chat/completions",   "/v1/embeddings",   "/v1/completions",
      "/v1/moderations", "/v1/images/generations", "/v1/images/edits", "/v1/videos"};
  const auto& endpoint = body["endpoint"];
  if (!endpoint.is_string() || !endpoints.count(endpoint.get<std::string>()))
    throw api_exception(400,
                        "Invalid value for 'endpoint': expected one of '/v1/responses', "
                        "'/v1/chat/completions', '/v1/embeddings', '/v1/completions', "
                        "'/v1/moderations', '/v1/images/generations', '/v1/images/edits', "
                        "'/v1/videos'.",
                        "endpoint");
  if (body["completion_window"] != "24h")
    throw api_exception(400, "Invalid value for 'completion_window': only '24h' is supported.",
                        "completion_window");
  check_metadata(body.value("metadata", json(nullptr)));
  check_output_expiry(body.value("output_expires_after", json(nullptr)));
  if (!body["input_file_id"].is_string())
    throw api_exception(400, "Invalid type for 'input_file_id': expected a string.",
                        "input_file_id");
  const auto file_id = body["input_file_id"].get<std::string>();
  const auto* file = files_.find(file_id);
  const double now = clock_.now();
  if (!file || file->visible_at > now)
    throw api_exception(400,
                        "Cannot find file " + file_id +
                            ", or project proj_batchdsim does not have access to it.",
                        "file_id");
  if (file->purpose != "batch")
    throw api_exception(400,
                        "File " + file_id + " has purpose '" + file->purpose +
                            "'; a batch input file must have purpose 'batch'.",
                        "input_file_id");
  auto& b = batches_.create(endpoint.get<std::string>(), file_id,
                            body.value("metadata", json(nullptr)), now);
  attempts.push_back({now, "200"});
  json j = b;
  return {200, "application/json", {}, j.dump(), {}};
}

batch& api::visible_batch(const std::string& id) {
  auto* b = batches_.find(id);
  if (!b || b->visible_at > clock_.now())
    throw api_exception(404, "No such Batch object: " + id, "id");
  return *b;
}

}  // namespace batchd::sim
