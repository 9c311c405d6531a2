#pragma once
// From a file in inbox/ to a job ready to run: the checks on the dropped
// file, the move into the state directory, validation and splitting, and
// the rejection (file to rejected/ with <file>.error.json) when it cannot be
// a job. Nothing dropped is ever deleted.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "limits.hpp"
#include "spool.hpp"

namespace batchd::store {
class database;
struct job_row;
}

namespace batchd::jobs {

class job_transitions;
struct assembly;

// Whether batchd should look at a name in inbox/ at all: not hidden, not
// still being written (.tmp, .part).
bool is_candidate_name(const std::string& filename);

// The job name for a dropped file: its name without extensions.
std::string job_base_name(const std::string& filename);

// Takes `file` from inbox/: refuses it (into rejected/, with a reason) if it
// is a symlink, not a regular file, too large, unreadable or of an unknown
// kind; else takes it privately into the state directory (private_source.hpp)
// and records a job in stage `received`. A file still open for writing, or
// (when not `settled`: found by a rescan rather than announced by a close or
// rename) modified within `opt.settle_s`, is left for later.
// Returns the job id, or nullopt if refused (the reason in `*refused` when
// given: the content of the .error.json) or already gone.
std::optional<std::int64_t> accept_dropped_file(store::database& db, const spool& dirs,
                                                const std::filesystem::path& file,
                                                const intake_options& opt, double now,
                                                nlohmann::json* refused = nullptr, bool settled = true,
                                                const std::vector<std::filesystem::path>* companions = nullptr);

// accept_dropped_file's file work, safe on a worker (no database): the
// checks, a refusal into rejected/, or the private copy (which may copy a
// hard-linked 2 GiB file, and scans /proc for writers) into the folder of job
// `job`, a name the caller has reserved. `source` is set when it is taken.
struct brought_in {
  std::optional<nlohmann::json> refusal;  // refused: the .error.json's content
  std::filesystem::path source;           // taken: the job's kept file
};
brought_in bring_in(const spool& dirs, const std::filesystem::path& file, const intake_options& opt, bool settled,
                    const std::vector<std::filesystem::path>& companions, const std::string& job);

// The files that travel with a dropped file (a manifest's inputs file): it
// reads the file, so a caller on the loop runs it on a worker and passes the
// answer to accept_dropped_file.
std::vector<std::filesystem::path> companions_of(const std::filesystem::path& file);

// Validates a `received` job and cuts it into chunks (→ `assembled`), or
// rejects it (→ `failed`, its file in rejected/ with <file>.error.json).
// Safe to run again after a crash: it starts over from the kept file.
// Returns the rejection (the .error.json's content) when there is one.
std::optional<nlohmann::json> assemble_job(job_transitions& moves, const spool& dirs, const store::job_row& job,
                                           const intake_options& opt);

// assemble_job in its two halves. The heavy one, safe on a worker (files
// only, no database): validates the kept file and writes its chunks and id
// files. Throws std::system_error on I/O.
assembly assemble_files(const spool& dirs, const store::job_row& job, const intake_options& opt);
// The loop's: records what assembly made (→ assembled), or rejects the job.
std::optional<nlohmann::json> record_assembly(job_transitions& moves, const spool& dirs, const store::job_row& job,
                                              const assembly& a);

// Adopts job folders whose database row was never written (a crash between
// the move and the insert). Returns how many.
int adopt_orphans(store::database& db, const spool& dirs, double now);

}  // namespace batchd::jobs
