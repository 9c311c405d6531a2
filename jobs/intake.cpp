#include "intake.hpp"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "database.hpp"
#include "request_file.hpp"
#include "stage.hpp"

namespace batchd::jobs {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Moves `file` to rejected/ unchanged, with `<file>.error.json` beside it.
fs::path reject(const spool& dirs, const fs::path& file, const json& report) {
  const auto target = free_path(dirs.rejected, file.filename().string());
  // The error file first: a reader who sees the rejected file finds its reason.
  write_file_atomically(target.string() + ".error.json", report.dump(2) + "\n");
  move_file(file, target);
  return target;
}

json refusal(const std::string& filename, const std::string& error, const std::string& fix) {
  return {{"file", filename}, {"error", error}, {"fix", fix}};
}

}  // namespace

bool is_candidate_name(const std::string& name) {
  return !name.empty() && name[0] != '.' && !ends_with(name, ".tmp") && !ends_with(name, ".part");
}

std::string job_base_name(const std::string& filename) {
  const auto dot = filename.find('.');
  auto base = filename.substr(0, dot);
  return base.empty() ? "job" : base;
}

std::optional<std::int64_t> accept_dropped_file(store::database& db, const spool& dirs,
                                                const fs::path& file, const intake_options& opt,
                                                double now, json* refused) {
  const auto name = file.filename().string();
  struct stat st {};
  if (::lstat(file.c_str(), &st) != 0) return std::nullopt;  // gone already
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
    fix = "split it into smaller files, or raise max_file_bytes in the configuration";
  } else if (ends_with(name, ".job.json")) {
    problem = "manifest jobs (*.job.json) are not supported by this version of batchd";
    fix = "write the requests as a batch request file (*.jsonl), one request a line";
  } else if (!ends_with(name, ".jsonl")) {
    problem = "unknown kind of file";
    fix = "drop a batch request file named *.jsonl";
  }
  if (!problem.empty()) {
    const auto doc = refusal(name, problem, fix);
    reject(dirs, file, doc);
    if (refused) *refused = doc;
    return std::nullopt;
  }
  const auto job = db.free_job_name(job_base_name(name));
  const auto dir = dirs.job_dir(job);
  fs::create_directories(dir);
  const auto source = dir / name;
  move_file(file, source);  // a crash after this is healed by adopt_orphans()
  return db.insert_job(job, "requests", source.string(), now);
}

std::optional<json> assemble_job(store::database& db, const spool& dirs, std::int64_t job_id,
                                 const intake_options& opt, double now) {
  auto job = db.job(job_id);
  if (!job || job->stage != name(job_stage::received)) return std::nullopt;
  const fs::path source = job->source;
  auto report = split_request_file(source, {opt.limits, 20});
  if (!report.errors.empty()) {
    json errors = json::array();
    for (const auto& e : report.errors)
      errors.push_back({{"line", e.line}, {"message", e.message}, {"hint", e.hint}});
    const auto summary = std::to_string(report.lines_with_errors) + " line" +
                         (report.lines_with_errors == 1 ? " is" : "s are") + " not valid";
    auto doc = refusal(source.filename().string(), summary,
                       "correct the lines listed (line numbers count from 1) and drop the file into "
                       "inbox/ again");
    doc["job"] = job->name;
    doc["lines_with_errors"] = report.lines_with_errors;
    doc["errors"] = errors;
    if (report.lines_with_errors > static_cast<std::int64_t>(report.errors.size()))
      doc["note"] = "only the first " + std::to_string(report.errors.size()) + " errors are listed";
    const auto where = reject(dirs, source, doc);
    db.transaction([&] {
      db.move_job(job_id, "received", "failed", now, summary + " (see " + where.string() + ".error.json)");
      db.add_event(job_id, std::nullopt, "rejected: " + summary, now);
    });
    return doc;
  }
  db.transaction([&] {
    db.set_job_request(job_id, report.endpoint, report.model, report.requests);
    std::int64_t input_tokens = 0;
    for (const auto& c : report.chunks) input_tokens += c.estimated_prompt_tokens;
    db.set_job_estimate(job_id, input_tokens, report.output_token_caps);
    int idx = 0;
    for (const auto& c : report.chunks) {
      store::chunk_row row;
      row.job_id = job_id;
      row.idx = ++idx;
      row.attempt = 1;
      row.stage = std::string(name(chunk_stage::assembled));
      row.path = c.path.string();
      row.offset = static_cast<std::int64_t>(c.offset);
      row.sha256 = c.sha256;
      row.requests = c.requests;
      row.bytes = c.bytes;
      row.est_tokens = c.estimated_prompt_tokens;
      db.insert_chunk(row, now);
    }
    db.move_job(job_id, "received", "validated", now);
    db.move_job(job_id, "validated", "assembled", now);
    db.add_event(job_id, std::nullopt,
                 "assembled: " + std::to_string(report.requests) + " requests in " +
                     std::to_string(report.chunks.size()) + " chunk(s)",
                 now);
  });
  return std::nullopt;
}

int adopt_orphans(store::database& db, const spool& dirs, double now) {
  int adopted = 0;
  const auto root = dirs.state / "jobs";
  if (!fs::exists(root)) return 0;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (!entry.is_directory()) continue;
    const auto job = entry.path().filename().string();
    if (db.job_by_name(job)) continue;
    for (const auto& f : fs::directory_iterator(entry.path())) {
      if (!f.is_regular_file()) continue;
      db.insert_job(job, "requests", f.path().string(), now);
      ++adopted;
      break;
    }
  }
  return adopted;
}

}  // namespace batchd::jobs
