#pragma once
// From a file in inbox/ to a job's files: the checks on the dropped file,
// the private move into the state directory, the kind's validation and
// splitting (the worker's half of assembly; lifecycle/job_assembly.hpp
// records it), and the refusal (file to rejected/ with <file>.error.json)
// when it cannot be a job. Nothing dropped is ever deleted.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "jobfiles/limits.hpp"
#include "jobs/core/spool.hpp"

namespace batchd::store {
class database;
struct job_row;
}

namespace batchd::jobs {

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
                                                const jobfiles::intake_options& opt, double now,
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
brought_in bring_in(const spool& dirs, const std::filesystem::path& file, const jobfiles::intake_options& opt, bool settled,
                    const std::vector<std::filesystem::path>& companions, const std::string& job);

// The files that travel with a dropped file (a manifest's inputs file): it
// reads the file, so a caller on the loop runs it on a worker and passes the
// answer to accept_dropped_file.
std::vector<std::filesystem::path> companions_of(const std::filesystem::path& file);

// Moves `file` to rejected/ unchanged, with `<file>.error.json` (`report`)
// beside it, written first. Returns where the file went.
std::filesystem::path reject_file(const spool& dirs, const std::filesystem::path& file, const nlohmann::json& report);

// The heavy half of assembly, safe on a worker (files only, no database):
// validates a received job's kept file by its kind and writes its chunks and
// id files, starting over from the kept file after a crash. Throws
// std::system_error on I/O.
assembly assemble_files(const spool& dirs, const store::job_row& job, const jobfiles::intake_options& opt);

// Adopts job folders whose database row was never written (a crash between
// the move and the insert). Returns how many.
int adopt_orphans(store::database& db, const spool& dirs, double now);

}  // namespace batchd::jobs
