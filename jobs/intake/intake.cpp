#include "jobs/intake/intake.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>

#include <nlohmann/json.hpp>

#include "io/atomic_file.hpp"
#include "store/database.hpp"
#include "jobs/kinds/job_kind.hpp"
#include "jobfiles/manifest.hpp"
#include "io/private_source.hpp"
#include "jobs/core/stage.hpp"

namespace batchd::jobs {
namespace fs = std::filesystem;
using nlohmann::json;

fs::path reject_file(const spool& dirs, const fs::path& file, const json& report) {
  const auto target = free_path(dirs.rejected, file.filename().string());
  // The error file first: a reader who sees the rejected file finds its reason.
  io::write_file_atomically(target.string() + ".error.json", report.dump(2) + "\n");
  io::move_file(file, target);
  return target;
}

std::vector<fs::path> companions_of(const fs::path& file) {
  const auto* kind = kind_for_file(file.filename().string());
  struct stat st {};
  if (!kind || ::lstat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return {};
  return kind->companions(file);
}

bool is_candidate_name(const std::string& name) {
  return !name.empty() && name[0] != '.' && !name.ends_with(".tmp") && !name.ends_with(".part") &&
         !jobfiles::is_inputs_file_name(name);  // waits for the manifest that names it
}

std::string job_base_name(const std::string& filename) {
  const auto dot = filename.find('.');
  auto base = filename.substr(0, dot);
  return base.empty() ? "job" : base;
}

brought_in bring_in(const spool& dirs, const fs::path& file, const jobfiles::intake_options& opt, bool settled,
                    const std::vector<fs::path>& companions, const std::string& job) {
  brought_in out;
  const auto name = file.filename().string();
  struct stat st {};
  if (::lstat(file.c_str(), &st) != 0) return out;  // gone already
  if (S_ISREG(st.st_mode) && !settled) {
    // Found by a rescan, not announced by its writer's close or rename: it
    // may still be being written, so it must have rested a while.
    const auto age = std::chrono::system_clock::now() - std::chrono::system_clock::from_time_t(st.st_mtim.tv_sec);
    if (age < std::chrono::duration<double>(opt.settle_s)) return out;
  }
  if (S_ISREG(st.st_mode) && io::open_for_writing(st)) {
    spdlog::info("{} is still open for writing; taking it when its writer closes it", name);
    return out;
  }
  std::string problem, fix;
  if (S_ISLNK(st.st_mode)) {
    problem = "the file is a symbolic link; batchd only takes regular files";
    fix = "copy the file itself into inbox/ (write it elsewhere, then rename it in)";
  } else if (!S_ISREG(st.st_mode)) {
    problem = "not a regular file";
    fix = "drop regular files only";
  } else if (st.st_size > opt.max_file_bytes) {
    problem = "the file is " + std::to_string(st.st_size) + " bytes, over the limit of " +
              std::to_string(opt.max_file_bytes);
    fix = "split it into smaller files, or raise pipeline.max_file_bytes in the configuration";
  } else if (!kind_for_file(name)) {
    problem = "unknown kind of file";
    fix = "drop a batch request file (*.jsonl) or a manifest (*.job.json)";
  } else if (const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC); fd < 0) {
    problem = std::string("batchd cannot read the file: ") + std::strerror(errno);
    fix = "make the file readable by the service's user or group, then drop it again";
  } else {
    ::close(fd);
  }
  if (!problem.empty()) {
    out.refusal = refusal(name, problem, fix);
    reject_file(dirs, file, *out.refusal);
    return out;
  }
  const auto dir = dirs.job_dir(job);
  io::create_directories_durably(dir);  // before insert_job names it
  for (const auto& companion : companions) {
    struct stat cs {};
    if (::lstat(companion.c_str(), &cs) != 0 || io::open_for_writing(cs) ||
        !io::take_private(companion, dir / companion.filename(), cs))
      return out;  // not ready: tried again at its writer's close or the next rescan
  }
  const auto source = dir / name;
  if (!io::take_private(file, source, st)) {  // changed while copied: all of it again later
    for (const auto& companion : companions)
      if (fs::exists(dir / companion.filename())) io::move_file(dir / companion.filename(), companion);
    std::error_code ignored;
    fs::remove_all(dir, ignored);
    return out;
  }
  out.source = source;
  return out;
}

std::optional<std::int64_t> accept_dropped_file(store::database& db, const spool& dirs, const fs::path& file,
                                                const jobfiles::intake_options& opt, double now, json* refused, bool settled,
                                                const std::vector<fs::path>* companions) {
  const auto job = db.free_job_name(job_base_name(file.filename().string()));
  const auto in = bring_in(dirs, file, opt, settled, companions ? *companions : companions_of(file), job);
  if (in.refusal && refused) *refused = *in.refusal;
  if (in.source.empty()) return std::nullopt;
  // A crash before the insert is healed by adopt_orphans().
  return db.insert_job(job, std::string(kind_for_file(file.filename().string())->name()), in.source.string(), now);
}

assembly assemble_files(const spool& dirs, const store::job_row& job, const jobfiles::intake_options& opt) {
  return kind_of(job.kind).assemble(job, dirs.work_dir(job.name), opt);
}

int adopt_orphans(store::database& db, const spool& dirs, double now) {
  int adopted = 0;
  const auto root = dirs.state / "jobs";
  if (!fs::exists(root)) return 0;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (!entry.is_directory()) continue;
    const auto job = entry.path().filename().string();
    if (db.job_by_name(job)) continue;
    // The dropped file: a manifest (its inputs file may lie beside it), else the request file.
    std::optional<fs::path> source;
    for (const auto& f : fs::directory_iterator(entry.path())) {
      const auto name = f.path().filename().string();
      if (!f.is_regular_file() || jobfiles::is_inputs_file_name(name)) continue;
      if (name.ends_with(".job.json")) {
        source = f.path();
        break;
      }
      if (name.ends_with(".jsonl")) source = f.path();
    }
    if (!source) continue;
    db.insert_job(job, std::string(kind_for_file(source->filename().string())->name()), source->string(), now);
    ++adopted;
  }
  return adopted;
}

}  // namespace batchd::jobs
