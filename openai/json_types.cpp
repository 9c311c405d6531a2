#include "openai/json_types.hpp"

#include <nlohmann/json.hpp>

namespace batchd::openai {
namespace {

using nlohmann::json;

std::string text(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
std::optional<std::string> opt_text(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}
std::optional<std::int64_t> opt_int(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<std::int64_t>();
}

}  // namespace

file_object parse_file(const json& j) {
  file_object f;
  f.id = text(j, "id");
  f.filename = text(j, "filename");
  f.purpose = text(j, "purpose");
  f.bytes = opt_int(j, "bytes").value_or(0);
  f.created_at = opt_int(j, "created_at").value_or(0);
  f.expires_at = opt_int(j, "expires_at");
  return f;
}

batch parse_batch(const json& j) {
  batch b;
  b.id = text(j, "id");
  b.endpoint = text(j, "endpoint");
  b.input_file_id = text(j, "input_file_id");
  b.completion_window = text(j, "completion_window");
  b.status = text(j, "status");
  b.model = opt_text(j, "model");
  b.output_file_id = opt_text(j, "output_file_id");
  b.error_file_id = opt_text(j, "error_file_id");
  b.created_at = opt_int(j, "created_at").value_or(0);
  b.in_progress_at = opt_int(j, "in_progress_at");
  b.expires_at = opt_int(j, "expires_at");
  b.finalizing_at = opt_int(j, "finalizing_at");
  b.completed_at = opt_int(j, "completed_at");
  b.failed_at = opt_int(j, "failed_at");
  b.expired_at = opt_int(j, "expired_at");
  b.cancelling_at = opt_int(j, "cancelling_at");
  b.cancelled_at = opt_int(j, "cancelled_at");
  if (auto rc = j.find("request_counts"); rc != j.end() && rc->is_object()) {
    b.counts.total = opt_int(*rc, "total").value_or(0);
    b.counts.completed = opt_int(*rc, "completed").value_or(0);
    b.counts.failed = opt_int(*rc, "failed").value_or(0);
  }
  if (auto u = j.find("usage"); u != j.end() && u->is_object() && opt_int(*u, "input_tokens")) {
    const auto detail = [&](const char* object, const char* key) {
      auto d = u->find(object);
      return d != u->end() && d->is_object() ? opt_int(*d, key).value_or(0) : 0;
    };
    b.usage = batch_usage{*opt_int(*u, "input_tokens"), detail("input_tokens_details", "cached_tokens"),
                          opt_int(*u, "output_tokens").value_or(0), detail("output_tokens_details", "reasoning_tokens"),
                          opt_int(*u, "total_tokens").value_or(0)};
  }
  if (auto errs = j.find("errors"); errs != j.end() && errs->is_object()) {
    if (auto data = errs->find("data"); data != errs->end() && data->is_array())
      for (const auto& e : *data)
        b.errors.push_back({text(e, "code"), text(e, "message"), opt_text(e, "param"), opt_int(e, "line")});
  }
  if (auto md = j.find("metadata"); md != j.end() && md->is_object())
    for (const auto& [k, v] : md->items())
      if (v.is_string()) b.metadata[k] = v.get<std::string>();
  return b;
}

json to_json(const create_batch_request& r) {
  json j = {{"input_file_id", r.input_file_id},
            {"endpoint", r.endpoint},
            {"completion_window", r.completion_window}};
  if (!r.metadata.empty()) j["metadata"] = r.metadata;
  return j;
}

}  // namespace batchd::openai
