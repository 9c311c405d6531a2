#include "sim/batch_validator.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "sim/processor.hpp"

namespace batchd::sim {
namespace {

// The real service reports many line errors at once; past this many, the
// rest add nothing for a reader.
constexpr std::size_t max_reported_errors = 1000;

std::int64_t embedding_inputs(const nlohmann::json& body) {
  if (!body.contains("input")) return 0;
  const auto& in = body["input"];
  if (!in.is_array() || in.empty()) return 1;
  return in[0].is_number() ? 1 : static_cast<std::int64_t>(in.size());
}

// What is wrong with one parsed input line, if anything: the code, message
// and param the real service reports (the codes are ours: API-FACTS §10).
struct line_problem {
  std::string code, message;
  std::optional<std::string> param;
};

std::optional<line_problem> check_input_line(const nlohmann::json& j, const std::string& endpoint,
                                             validation_report& report, std::unordered_set<std::string>& custom_ids) {
  if (!j.contains("custom_id") || !j["custom_id"].is_string())
    return line_problem{"missing_required_parameter", "Missing required parameter: 'custom_id'.", "custom_id"};
  if (j.value("method", "") != "POST")
    return line_problem{"invalid_method", "The 'method' of each request must be 'POST'.", "method"};
  if (!j.contains("url") || !j["url"].is_string() || j["url"] != endpoint)
    return line_problem{"invalid_url",
                        "The URL provided for this request does not match the batch endpoint " + endpoint + ".", "url"};
  if (!j.contains("body") || !j["body"].is_object())
    return line_problem{"missing_required_parameter", "Missing required parameter: 'body'.", "body"};
  const auto& body = j["body"];
  if (!body.contains("model") || !body["model"].is_string())
    return line_problem{"missing_required_parameter", "Missing required parameter: 'body.model'.", "body.model"};
  const auto model = body["model"].get<std::string>();
  if (report.model.empty()) report.model = model;
  else if (model != report.model)
    return line_problem{"mismatched_model",
                        "The model '" + model + "' does not match the model '" + report.model +
                            "' of earlier lines. A batch must use one model.",
                        "body.model"};
  if (!custom_ids.insert(j["custom_id"].get<std::string>()).second)
    return line_problem{"duplicate_custom_id",
                        "The custom_id for this request is a duplicate of another request. The custom_id "
                        "parameter must be unique for each individual request in a batch.",
                        "custom_id"};
  return std::nullopt;
}

}  // namespace

validation_report validate_batch_input(const std::filesystem::path& file,
                                       const std::string& endpoint) {
  validation_report report;
  auto fail = [&](std::string code, std::string message, std::optional<std::string> param,
                  std::optional<std::int64_t> line) {
    if (report.errors.size() < max_reported_errors)
      report.errors.push_back({std::move(code), std::move(message), std::move(param), line});
  };

  const auto size = static_cast<std::int64_t>(std::filesystem::file_size(file));
  if (size > max_batch_bytes) {
    fail("file_too_large",
         "The batch input file is larger than the 209715200 maximum for this endpoint.",
         std::nullopt, std::nullopt);
    return report;
  }
  std::ifstream in(file, std::ios::binary);
  std::string line;
  std::unordered_set<std::string> custom_ids;
  std::int64_t inputs = 0;
  std::uint64_t offset = 0;
  std::int64_t number = 0;
  while (std::getline(in, line)) {
    const std::uint64_t start = offset;
    offset += line.size() + 1;
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() && in.peek() == std::ifstream::traits_type::eof()) break;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      fail("invalid_json_line", "This line is not parseable as valid JSON. Each line must be a JSON object.",
           std::nullopt, number);
      continue;
    }
    if (auto p = check_input_line(j, endpoint, report, custom_ids)) {
      fail(std::move(p->code), std::move(p->message), std::move(p->param), number);
      continue;
    }
    const auto& body = j["body"];
    if (endpoint == "/v1/embeddings") inputs += embedding_inputs(body);
    const auto tokens = estimate_prompt_tokens(endpoint, body);
    report.prompt_tokens += tokens;
    report.lines.push_back({start, static_cast<std::uint32_t>(line.size()), tokens,
                            !check_request(endpoint, body).has_value()});
  }
  const auto count = static_cast<std::int64_t>(report.lines.size());
  if (count == 0 && report.errors.empty())
    fail("empty_file", "The batch input file is empty.", std::nullopt, std::nullopt);
  if (count > max_batch_requests)
    fail("too_many_requests",
         "The batch input file contains " + std::to_string(count) + " requests, more than the 50000 maximum.",
         std::nullopt, std::nullopt);
  if (inputs > max_batch_embedding_inputs)
    fail("too_many_embedding_inputs",
         "The batch contains " + std::to_string(inputs) + " embedding inputs, more than the 50000 maximum per batch.",
         std::nullopt, std::nullopt);
  return report;
}

}  // namespace batchd::sim
