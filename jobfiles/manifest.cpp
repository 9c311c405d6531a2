#include "jobfiles/manifest.hpp"

#include <algorithm>
#include <fstream>

#include "jobfiles/request_file.hpp"

namespace batchd::jobfiles {
using nlohmann::json;

namespace {

const std::vector<std::string> known_keys = {
    "endpoint", "model",    "body",     "inputs",       "inputs_file", "input_field",       "custom_id",
    "completion_window",    "metadata", "max_cost_usd", "priority",    "order",             "inputs_per_request",
    "output"};

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

}  // namespace

std::optional<std::string> closest_name(const std::string& word, const std::vector<std::string>& known) {
  std::optional<std::string> best;
  std::size_t best_d = std::max<std::size_t>(3, word.size() / 3) + 1;
  for (const auto& k : known) {
    const auto d = edit_distance(word, k);
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  return best;
}

bool is_inputs_file_name(const std::string& f) {
  return f.ends_with(".txt") || f.ends_with(".inputs.jsonl");
}

std::optional<manifest> parse_manifest(const json& j, const std::string& job, std::vector<manifest_problem>& problems) {
  const auto before = problems.size();
  auto problem = [&](std::string field, std::string message, std::string hint) {
    problems.push_back({std::move(field), 0, std::move(message), std::move(hint)});
  };
  if (!j.is_object()) {
    problem("", "the manifest is not a JSON object", "write one object: {\"endpoint\": …, \"model\": …, \"inputs\": …}");
    return std::nullopt;
  }
  for (const auto& [k, _] : j.items()) {
    if (std::find(known_keys.begin(), known_keys.end(), k) != known_keys.end()) continue;
    const auto near = closest_name(k, known_keys);
    problem(k, "unknown field \"" + k + "\"" + (near ? "; did you mean \"" + *near + "\"?" : ""),
            near ? "rename it to \"" + *near + "\"" : "remove it; the known fields are listed in the README");
  }
  manifest m;
  auto text = [&](const char* key, std::string& out, bool required) {
    if (!j.contains(key)) {
      if (required) problem(key, std::string("\"") + key + "\" is missing", "add it");
      return;
    }
    if (!j[key].is_string() || j[key].get<std::string>().empty()) {
      problem(key, std::string("\"") + key + "\" must be a non-empty string", "");
      return;
    }
    out = j[key].get<std::string>();
  };
  text("endpoint", m.endpoint, true);
  text("model", m.model, true);
  if (!m.endpoint.empty() && !is_batch_endpoint(m.endpoint))
    problem("endpoint", "\"" + m.endpoint + "\" is not an endpoint the Batch API serves",
            "use /v1/embeddings, /v1/chat/completions, /v1/responses, /v1/completions or /v1/moderations");
  if (j.contains("body")) {
    if (!j["body"].is_object()) problem("body", "\"body\" must be an object (the request body template)", "");
    else m.body = j["body"];
  }
  const bool inline_inputs = j.contains("inputs"), file_inputs = j.contains("inputs_file");
  if (inline_inputs == file_inputs)
    problem(inline_inputs ? "inputs" : "", inline_inputs ? "give \"inputs\" or \"inputs_file\", not both" : "no inputs",
            "list them in \"inputs\" (an array), or name a sibling file in \"inputs_file\"");
  if (inline_inputs) {
    if (!j["inputs"].is_array() || j["inputs"].empty())
      problem("inputs", "\"inputs\" must be a non-empty array of strings or objects", "");
    else
      m.inputs = j["inputs"];
  }
  if (file_inputs) {
    text("inputs_file", m.inputs_file, true);
    if (!m.inputs_file.empty() && (m.inputs_file.find('/') != std::string::npos || m.inputs_file[0] == '.'))
      problem("inputs_file", "\"inputs_file\" must name a file beside the manifest in inbox/, without a path", "");
    else if (!m.inputs_file.empty() && !is_inputs_file_name(m.inputs_file))
      problem("inputs_file", "\"" + m.inputs_file + "\" is neither *.txt (one input a line) nor *.inputs.jsonl (one object a line)",
              "rename it, so that batchd does not take it for a job of its own");
  }
  if (j.contains("input_field")) text("input_field", m.input_field, false);
  m.id_prefix = job + "-";
  if (j.contains("custom_id")) {
    const auto& c = j["custom_id"];
    if (c.is_object() && c.size() == 1 && c.contains("prefix") && c["prefix"].is_string())
      m.id_prefix = c["prefix"].get<std::string>();
    else if (c.is_object() && c.size() == 1 && c.contains("field") && c["field"].is_string() &&
             !c["field"].get<std::string>().empty())
      m.id_field = c["field"].get<std::string>();
    else
      problem("custom_id", "\"custom_id\" must be {\"prefix\": \"…\"} or {\"field\": \"…\"}",
              "ids are the prefix plus the input's 1-based position, or a field of each input object");
  }
  if (j.contains("completion_window")) {
    text("completion_window", m.completion_window, false);
    if (m.completion_window != "24h") problem("completion_window", "the Batch API only offers \"24h\"", "");
  }
  if (j.contains("metadata")) {
    const auto& md = j["metadata"];
    if (!md.is_object() || md.size() > 11) {
      problem("metadata", "\"metadata\" must be an object of at most 11 string pairs (batchd adds 5 of the API's 16)", "");
    } else {
      for (const auto& [k, v] : md.items()) {
        if (!v.is_string() || k.size() > 64 || v.get<std::string>().size() > 512 || k.rfind("batchd_", 0) == 0)
          problem("metadata", "metadata \"" + k + "\": keys up to 64 characters (not starting batchd_), string values up to 512", "");
        else
          m.metadata[k] = v.get<std::string>();
      }
    }
  }
  if (j.contains("max_cost_usd")) {
    const auto& v = j["max_cost_usd"];
    std::optional<ledger::picousd> cost;
    if (v.is_string()) cost = ledger::parse_usd(v.get<std::string>());
    else if (v.is_number()) cost = ledger::parse_usd(v.dump());
    if (!cost) problem("max_cost_usd", "\"max_cost_usd\" must be an amount in USD such as \"2.50\"", "");
    m.max_cost = cost;
  }
  if (j.contains("priority")) {
    if (!j["priority"].is_number_integer()) problem("priority", "\"priority\" must be a whole number", "");
    else m.priority = j["priority"].get<std::int64_t>();
  }
  if (j.contains("order")) {
    const auto o = j["order"].is_string() ? j["order"].get<std::string>() : "";
    if (o != "input" && o != "received")
      problem("order", "\"order\" must be \"input\" (results in the inputs' order) or \"received\"", "");
    m.input_order = o != "received";
  }
  if (j.contains("inputs_per_request")) {
    const auto& v = j["inputs_per_request"];
    if (!v.is_number_integer() || v.get<int>() < 1 || v.get<int>() > 2048)
      problem("inputs_per_request", "\"inputs_per_request\" must be from 1 to 2048 (the API's limit)", "");
    else
      m.inputs_per_request = v.get<int>();
  }
  if (j.contains("output")) {
    const auto o = j["output"].is_string() ? j["output"].get<std::string>() : "";
    if (o != "jsonl" && o != "npy" && o != "both")
      problem("output", "\"output\" must be \"jsonl\" (results.jsonl), \"npy\" (embeddings.npy) or \"both\"", "");
    else if (o != "jsonl" && !m.packs())
      problem("output", "\"output\": \"" + o + "\" is for embeddings manifests; this one is for " + m.endpoint,
              "remove \"output\", or use the /v1/embeddings endpoint");
    else
      m.output = o;
  }
  // The body template: batchd sets the model (and, for embeddings, the input).
  if (m.body.contains("model") && m.body["model"] != m.model)
    problem("body", "\"body.model\" differs from \"model\"", "leave the model out of the body");
  if (m.packs() && m.body.contains("input"))
    problem("body", "\"body.input\" is set, but batchd fills it with the inputs", "remove \"input\" from the body");
  if (m.packs() && m.body.contains("encoding_format") && m.body["encoding_format"] != "float" &&
      m.body["encoding_format"] != "base64")
    problem("body", "\"body.encoding_format\" must be \"float\" or \"base64\"", "or leave it out: batchd asks for base64");
  if (m.body.contains("stream") && m.body["stream"] == true)
    problem("body", "\"body.stream\" is true; batch requests cannot stream", "remove it");
  if (problems.size() != before) return std::nullopt;
  return m;
}

int manifest::packed_inputs() const {
  if (inputs_per_request > 0) return inputs_per_request;
  std::int64_t dims = model.find("3-large") != std::string::npos ? 3072 : 1536;
  if (body.contains("dimensions") && body["dimensions"].is_number_integer()) dims = body["dimensions"].get<std::int64_t>();
  // An embedding's bytes in the answer: base64 of float32 (4/3 × 4), or about 20 a number as float JSON.
  const bool floats = body.value("encoding_format", std::string("base64")) == "float";
  const std::int64_t per_input = dims * (floats ? 20 : 6) + 64;
  return static_cast<int>(std::clamp<std::int64_t>((512 * 1024) / std::max<std::int64_t>(per_input, 1), 1, 2048));
}

std::optional<manifest> load_manifest(const std::filesystem::path& file, const std::string& job,
                                      std::vector<manifest_problem>& problems) {
  std::ifstream in(file, std::ios::binary);
  auto j = json::parse(in, nullptr, false);
  if (j.is_discarded()) {
    problems.push_back({"", 0, "the manifest is not valid JSON", "check quotes, commas and brackets"});
    return std::nullopt;
  }
  return parse_manifest(j, job, problems);
}

}  // namespace batchd::jobfiles
