#pragma once
// What differs between the kinds of job file — a batch request file
// (*.jsonl) and a manifest (*.job.json) — behind one interface, so the rest
// of batchd never asks which kind it holds. Each kind validates its file
// once, at assembly, and keeps what later steps need as the job's spec.
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "limits.hpp"
#include "money.hpp"
#include "request_file.hpp"

namespace batchd::store {
struct job_row;
}

namespace batchd::jobs {

class outbox_writer;
struct result_parts;

// Kept with the job (jobs.spec, JSON) from assembly on.
struct job_spec {
  std::vector<std::string> ids;                 // the job's id files: every asked custom_id, in order
  std::map<std::string, std::string> metadata;  // the user's own, added to every batch's
  bool packs = false;          // a request's custom_id may stand for several inputs (packed embeddings)
  bool input_order = true;     // outbox lines in input order (else as received)
  std::string model;           // the job's model, for unpacked lines without one
  std::string id_prefix, id_field;  // how a manifest's inputs are named
  // Embeddings manifests: "jsonl", "npy" or "both" (manifest.hpp). When batchd
  // asked for base64 itself, results.jsonl gets the vectors back as floats.
  std::string output = "jsonl";
  bool float_lines = false;
  bool writes_vectors() const { return output != "jsonl"; }  // embeddings.npy and its row map
  bool writes_lines() const { return output != "npy"; }      // results.jsonl
  std::string texts;  // each input's text, cut short, one JSON string a line (for the vector file's row map)

  static job_spec parse(const std::string& text);  // "" gives the defaults
  std::string dump() const;
};

// What assembly made of a job's file, or why it cannot be a job.
struct assembly {
  std::optional<nlohmann::json> rejection;        // the <file>.error.json content
  std::vector<std::filesystem::path> companions;  // go to rejected/ with the file (a manifest's inputs)
  std::string endpoint, model;
  std::int64_t total = 0;     // what job.json counts: requests, or a manifest's inputs
  std::int64_t requests = 0;  // batch requests
  std::int64_t output_token_caps = 0;
  std::optional<picousd> max_cost;
  std::vector<chunk_file> chunks;  // each with its ids file
  job_spec spec;
};

class job_kind {
 public:
  virtual ~job_kind() = default;
  virtual std::string_view name() const = 0;  // as in jobs.kind
  // Files in inbox/ that travel with `dropped` into the job's folder (a
  // manifest's inputs file); one that is missing is reported at assembly.
  virtual std::vector<std::filesystem::path> companions(const std::filesystem::path&) const { return {}; }
  // Validates the job's kept file (job.source) and writes what batchd needs
  // (chunks, id files) into `work`. Throws std::system_error on I/O.
  virtual assembly assemble(const store::job_row& job, const std::filesystem::path& work,
                            const intake_options& opt) const = 0;
  // The spec of a job assembled by a batchd from before specs were kept,
  // rebuilt from what that batchd left (its id files are written now).
  virtual job_spec recover_spec(const store::job_row& job, const std::filesystem::path& job_dir,
                                const std::filesystem::path& work) const = 0;
  // Writes every ended attempt's lines (`parts`) through `out`, in the
  // order users get them.
  virtual void publish(outbox_writer& out, const result_parts& parts, const job_spec& spec) const = 0;
};

// The kind named in a job row; throws std::invalid_argument for another name.
const job_kind& kind_of(std::string_view name);
// The kind a dropped file's name says, or nullptr if none.
const job_kind* kind_for_file(const std::string& filename);

// The refusal document of <file>.error.json.
nlohmann::json refusal(const std::string& filename, const std::string& error, const std::string& fix);

}  // namespace batchd::jobs
