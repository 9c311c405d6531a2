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

namespace {

// Reads a manifest's fields into `m`, a group of fields a step, recording
// every problem with its field, message and hint.
class manifest_reader {
 public:
  manifest_reader(const json& j, manifest& m, std::vector<manifest_problem>& problems)
      : j_(j), m_(m), problems_(problems) {}

  void problem(std::string field, std::string message, std::string hint) {
    problems_.push_back({std::move(field), 0, std::move(message), std::move(hint)});
  }

  void unknown_fields() {
    for (const auto& [k, _] : j_.items()) {
      if (std::find(known_keys.begin(), known_keys.end(), k) != known_keys.end()) continue;
      const auto near = closest_name(k, known_keys);
      problem(k, "unknown field \"" + k + "\"" + (near ? "; did you mean \"" + *near + "\"?" : ""),
              near ? "rename it to \"" + *near + "\"" : "remove it; the known fields are listed in the README");
    }
  }

  // endpoint, model, body.
  void request() {
    text("endpoint", m_.endpoint, true);
    text("model", m_.model, true);
    if (!m_.endpoint.empty() && !is_batch_endpoint(m_.endpoint))
      problem("endpoint", "\"" + m_.endpoint + "\" is not an endpoint the Batch API serves",
              "use one of " + batch_endpoint_list());
    if (j_.contains("body")) {
      if (!j_["body"].is_object()) problem("body", "\"body\" must be an object (the request body template)", "");
      else m_.body = j_["body"];
    }
  }

  // inputs or inputs_file, input_field.
  void inputs() {
    const bool inline_inputs = j_.contains("inputs"), file_inputs = j_.contains("inputs_file");
    if (inline_inputs == file_inputs)
      problem(inline_inputs ? "inputs" : "", inline_inputs ? "give \"inputs\" or \"inputs_file\", not both" : "no inputs",
              "list them in \"inputs\" (an array), or name a sibling file in \"inputs_file\"");
    if (inline_inputs) {
      if (!j_["inputs"].is_array() || j_["inputs"].empty())
        problem("inputs", "\"inputs\" must be a non-empty array of strings or objects", "");
      else
        m_.inputs = j_["inputs"];
    }
    if (file_inputs) {
      text("inputs_file", m_.inputs_file, true);
      const auto& f = m_.inputs_file;
      if (!f.empty() && (f.find('/') != std::string::npos || f[0] == '.'))
        problem("inputs_file", "\"inputs_file\" must name a file beside the manifest in inbox/, without a path", "");
      else if (!f.empty() && !is_inputs_file_name(f))
        problem("inputs_file", "\"" + f + "\" is neither *.txt (one input a line) nor *.inputs.jsonl (one object a line)",
                "rename it, so that batchd does not take it for a job of its own");
    }
    if (j_.contains("input_field")) text("input_field", m_.input_field, false);
  }

  // custom_id: a prefix (the job's name by default) or a field of each input.
  void naming(const std::string& job) {
    m_.id_prefix = job + "-";
    if (!j_.contains("custom_id")) return;
    const auto& c = j_["custom_id"];
    if (c.is_object() && c.size() == 1 && c.contains("prefix") && c["prefix"].is_string())
      m_.id_prefix = c["prefix"].get<std::string>();
    else if (c.is_object() && c.size() == 1 && c.contains("field") && c["field"].is_string() &&
             !c["field"].get<std::string>().empty())
      m_.id_field = c["field"].get<std::string>();
    else
      problem("custom_id", "\"custom_id\" must be {\"prefix\": \"…\"} or {\"field\": \"…\"}",
              "ids are the prefix plus the input's 1-based position, or a field of each input object");
  }

  // completion_window, metadata, max_cost_usd, priority.
  void batch_options() {
    if (j_.contains("completion_window")) {
      text("completion_window", m_.completion_window, false);
      if (m_.completion_window != "24h") problem("completion_window", "the Batch API only offers \"24h\"", "");
    }
    if (j_.contains("metadata")) metadata(j_["metadata"]);
    if (j_.contains("max_cost_usd")) {
      const auto& v = j_["max_cost_usd"];
      std::optional<ledger::picousd> cost;
      if (v.is_string()) cost = ledger::parse_usd(v.get<std::string>());
      else if (v.is_number()) cost = ledger::parse_usd(v.dump());
      if (!cost) problem("max_cost_usd", "\"max_cost_usd\" must be an amount in USD such as \"2.50\"", "");
      m_.max_cost = cost;
    }
    if (j_.contains("priority")) {
      if (!j_["priority"].is_number_integer()) problem("priority", "\"priority\" must be a whole number", "");
      else m_.priority = j_["priority"].get<std::int64_t>();
    }
  }

  // order, inputs_per_request, output.
  void output_options() {
    if (j_.contains("order")) {
      const auto o = j_["order"].is_string() ? j_["order"].get<std::string>() : "";
      if (o != "input" && o != "received")
        problem("order", "\"order\" must be \"input\" (results in the inputs' order) or \"received\"", "");
      m_.input_order = o != "received";
    }
    if (j_.contains("inputs_per_request")) {
      const auto& v = j_["inputs_per_request"];
      if (!v.is_number_integer() || v.get<int>() < 1 || v.get<int>() > 2048)
        problem("inputs_per_request", "\"inputs_per_request\" must be from 1 to 2048 (the API's limit)", "");
      else
        m_.inputs_per_request = v.get<int>();
    }
    if (j_.contains("output")) {
      const auto o = j_["output"].is_string() ? j_["output"].get<std::string>() : "";
      if (o != "jsonl" && o != "npy" && o != "both")
        problem("output", "\"output\" must be \"jsonl\" (results.jsonl), \"npy\" (embeddings.npy) or \"both\"", "");
      else if (o != "jsonl" && !m_.packs())
        problem("output", "\"output\": \"" + o + "\" is for embeddings manifests; this one is for " + m_.endpoint,
                "remove \"output\", or use the /v1/embeddings endpoint");
      else
        m_.output = o;
    }
  }

  // The body template: batchd sets the model (and, for embeddings, the input).
  void body_rules() {
    const auto& b = m_.body;
    if (b.contains("model") && b["model"] != m_.model)
      problem("body", "\"body.model\" differs from \"model\"", "leave the model out of the body");
    if (m_.packs() && b.contains("input"))
      problem("body", "\"body.input\" is set, but batchd fills it with the inputs", "remove \"input\" from the body");
    if (m_.packs() && b.contains("encoding_format") && b["encoding_format"] != "float" && b["encoding_format"] != "base64")
      problem("body", "\"body.encoding_format\" must be \"float\" or \"base64\"", "or leave it out: batchd asks for base64");
    if (b.contains("stream") && b["stream"] == true)
      problem("body", "\"body.stream\" is true; batch requests cannot stream", "remove it");
  }

 private:
  void text(const char* key, std::string& out, bool required) {
    if (!j_.contains(key)) {
      if (required) problem(key, std::string("\"") + key + "\" is missing", "add it");
      return;
    }
    if (!j_[key].is_string() || j_[key].get<std::string>().empty()) {
      problem(key, std::string("\"") + key + "\" must be a non-empty string", "");
      return;
    }
    out = j_[key].get<std::string>();
  }

  void metadata(const json& md) {
    if (!md.is_object() || md.size() > 11) {
      problem("metadata", "\"metadata\" must be an object of at most 11 string pairs (batchd adds 5 of the API's 16)", "");
      return;
    }
    for (const auto& [k, v] : md.items()) {
      if (!v.is_string() || k.size() > 64 || v.get<std::string>().size() > 512 || k.rfind("batchd_", 0) == 0)
        problem("metadata", "metadata \"" + k + "\": keys up to 64 characters (not starting batchd_), string values up to 512", "");
      else
        m_.metadata[k] = v.get<std::string>();
    }
  }

  const json& j_;
  manifest& m_;
  std::vector<manifest_problem>& problems_;
};

}  // namespace

std::optional<manifest> parse_manifest(const json& j, const std::string& job, std::vector<manifest_problem>& problems) {
  const auto before = problems.size();
  manifest m;
  manifest_reader read(j, m, problems);
  if (!j.is_object()) {
    read.problem("", "the manifest is not a JSON object", "write one object: {\"endpoint\": …, \"model\": …, \"inputs\": …}");
    return std::nullopt;
  }
  read.unknown_fields();
  read.request();
  read.inputs();
  read.naming(job);
  read.batch_options();
  read.output_options();
  read.body_rules();
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
