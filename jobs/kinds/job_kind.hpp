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

#include "jobfiles/limits.hpp"
#include "ledger/money.hpp"
#include "jobfiles/request_file.hpp"
#include "jobs/core/job_spec.hpp"

namespace batchd::store {
struct job_row;
}

namespace batchd::jobs {

class outbox_writer;
struct result_parts;

// What assembly made of a job's file, or why it cannot be a job.
struct assembly {
  std::optional<nlohmann::json> rejection;        // the <file>.error.json content
  std::vector<std::filesystem::path> companions;  // go to rejected/ with the file (a manifest's inputs)
  std::string endpoint, model;
  std::int64_t total = 0;     // what job.json counts: requests, or a manifest's inputs
  std::int64_t requests = 0;  // batch requests
  std::int64_t output_token_caps = 0;
  std::optional<ledger::picousd> max_cost;
  std::vector<std::string> warnings;          // job.json "warnings": the job runs, but the user should know
  std::vector<jobfiles::chunk_file> chunks;  // each with its ids file
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
                            const jobfiles::intake_options& opt) const = 0;
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
