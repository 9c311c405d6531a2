#pragma once
// Manifest jobs (`*.job.json`, DESIGN.md): an endpoint, a model, a request
// body template and inputs, from which batchd writes the batch requests
// itself. This file reads and checks the manifest; manifest_assembly.hpp
// turns it into request lines; manifest_results.hpp turns results back
// into one line per input.
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ledger/money.hpp"

namespace batchd::jobfiles {

struct manifest {
  std::string endpoint, model;
  nlohmann::json body = nlohmann::json::object();  // the template; strings may hold {{field}}
  std::optional<nlohmann::json> inputs;            // inline: an array of strings or objects
  std::string inputs_file;                          // or a sibling file in inbox/ (*.txt or *.jsonl)
  std::string input_field = "text";                 // embeddings with object inputs: the text's field
  std::string id_prefix;                            // custom_id = prefix + 1-based index …
  std::string id_field;                             // … or this field of each (object) input
  std::string completion_window = "24h";
  std::map<std::string, std::string> metadata;     // added to every batch's metadata
  std::optional<ledger::picousd> max_cost;
  std::int64_t priority = 0;                        // accepted; not used for scheduling yet
  bool input_order = true;                          // results.jsonl in input order (else as received)
  int inputs_per_request = 0;                       // embeddings: inputs packed into one request; 0: packed_inputs()
  std::string output = "jsonl";                     // embeddings: "jsonl", "npy" (a vector file) or "both"

  bool writes_vectors() const { return output != "jsonl"; }  // as job_spec::writes_vectors
  // Packed embeddings travel as base64 (about 2.3 times fewer bytes than
  // float JSON), unless the body template sets a format itself.
  bool asks_base64() const { return packs() && !body.contains("encoding_format"); }

  bool packs() const { return endpoint == "/v1/embeddings"; }
  // Inputs a packed request carries: as the manifest says, else as many as
  // keep each answer's line near 512 KiB (56 at 1536 dimensions as base64),
  // so that reading a line back stays small next to the rest of batchd.
  int packed_inputs() const;
};

// One thing wrong, for <file>.error.json.
struct manifest_problem {
  std::string field;       // the manifest key concerned ("" for the file)
  std::int64_t line = 0;   // 1-based line of the inputs (file or inline array); 0 when not about one
  std::string message, hint;
};

// Checks a parsed manifest. `job` names the default custom_id prefix.
std::optional<manifest> parse_manifest(const nlohmann::json& j, const std::string& job,
                                       std::vector<manifest_problem>& problems);

// Reads and checks the manifest file.
std::optional<manifest> load_manifest(const std::filesystem::path& file, const std::string& job,
                                      std::vector<manifest_problem>& problems);

// The closest of `known` to `word` (for "did you mean"), if any is close.
std::optional<std::string> closest_name(const std::string& word, const std::vector<std::string>& known);

// Names batchd treats as a manifest's inputs file: left in inbox/ until a
// manifest names them.
bool is_inputs_file_name(const std::string& filename);

}  // namespace batchd::jobfiles
