#include "intake.hpp"

#include <sys/stat.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "database.hpp"
#include "manifest.hpp"
#include "manifest_assembly.hpp"
#include "money.hpp"
#include "request_file.hpp"
#include "stage.hpp"

namespace batchd::jobs {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

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
  return !name.empty() && name[0] != '.' && !name.ends_with(".tmp") && !name.ends_with(".part") &&
         !is_inputs_file_name(name);  // waits for the manifest that names it
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
  } else if (!name.ends_with(".jsonl") && !name.ends_with(".job.json")) {
    problem = "unknown kind of file";
    fix = "drop a batch request file (*.jsonl) or a manifest (*.job.json)";
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
  const bool is_manifest = name.ends_with(".job.json");
  if (is_manifest) {
    // Its inputs file travels with it (it must be in inbox/ first); a missing
    // one is reported when the manifest is checked.
    std::ifstream in(file);
    const auto j = json::parse(in, nullptr, false);
    if (j.is_object() && j.contains("inputs_file") && j["inputs_file"].is_string()) {
      const auto inputs = j["inputs_file"].get<std::string>();
      // Not through a symlink: it could point at anything this service may read.
      if (!inputs.empty() && inputs.find('/') == std::string::npos && is_inputs_file_name(inputs) &&
          fs::symlink_status(file.parent_path() / inputs).type() == fs::file_type::regular)
        move_file(file.parent_path() / inputs, dir / inputs);
    }
  }
  const auto source = dir / name;
  move_file(file, source);  // a crash after this is healed by adopt_orphans()
  return db.insert_job(job, is_manifest ? "manifest" : "requests", source.string(), now);
}

namespace {

// Refuses a received job: its file (and any companions, such as a manifest's
// inputs) into rejected/ with `doc` as <file>.error.json; the job fails.
json reject_job(store::database& db, const spool& dirs, const store::job_row& job, json doc, json errors,
                std::int64_t problems, const std::vector<fs::path>& companions, double now) {
  doc["job"] = job.name;
  if (problems > static_cast<std::int64_t>(errors.size()))
    doc["note"] = "only the first " + std::to_string(errors.size()) + " are listed";
  doc["errors"] = std::move(errors);
  const auto where = reject(dirs, job.source, doc);
  for (const auto& f : companions)
    if (fs::exists(f)) move_file(f, free_path(dirs.rejected, f.filename().string()));  // nothing dropped is lost
  const std::string summary = doc["error"];
  db.transaction([&] {
    db.move_job(job.id, "received", "failed", now, summary + " (see " + where.string() + ".error.json)");
    db.add_event(job.id, std::nullopt, "rejected: " + summary, now);
  });
  return doc;
}

// A manifest's requests, written by batchd, or what is wrong with it.
struct manifest_requests {
  std::optional<manifest> m;
  std::vector<manifest_problem> problems;
  std::int64_t problem_count = 0;
  assembly_report assembled;
};

manifest_requests write_manifest_requests(const store::job_row& job, const intake_options& opt) {
  manifest_requests r;
  const fs::path source = job.source;
  const auto dir = source.parent_path();
  r.m = load_manifest(source, job.name, r.problems);
  if (r.m && !r.m->inputs_file.empty() && fs::symlink_status(dir / r.m->inputs_file).type() != fs::file_type::regular)
    r.problems.push_back({"inputs_file", 0,
                          "the inputs file \"" + r.m->inputs_file +
                              "\" was not in inbox/ (as a regular file, not a link) when the manifest arrived",
                          "drop the inputs file first, then the manifest (both into inbox/)"});
  if (r.m && r.problems.empty()) {
    r.assembled = assemble_manifest(*r.m, r.m->inputs_file.empty() ? fs::path() : dir / r.m->inputs_file,
                                    dir / "requests.jsonl", dir / "ids.txt", opt.limits);
    r.problems = std::move(r.assembled.problems);
  }
  r.problem_count = std::max<std::int64_t>(r.assembled.problem_lines, static_cast<std::int64_t>(r.problems.size()));
  return r;
}

}  // namespace

std::optional<json> assemble_job(store::database& db, const spool& dirs, std::int64_t job_id,
                                 const intake_options& opt, double now) {
  auto job = db.job(job_id);
  if (!job || job->stage != name(job_stage::received)) return std::nullopt;
  const fs::path source = job->source;
  request_file_report report;
  std::int64_t total = 0;  // what job.json counts: requests, or a manifest's inputs
  std::optional<picousd> max_cost;
  if (job->kind == "manifest") {
    auto w = write_manifest_requests(*job, opt);
    if (!w.problems.empty()) {
      json errors = json::array();
      for (const auto& p : w.problems) {
        json e = {{"field", p.field}, {"message", p.message}, {"hint", p.hint}};
        if (p.line > 0) e["line"] = p.line;
        errors.push_back(e);
      }
      const auto summary = "the manifest has " + std::to_string(w.problem_count) + " problem" +
                           (w.problem_count == 1 ? "" : "s");
      std::vector<fs::path> companions;
      if (w.m && !w.m->inputs_file.empty()) companions.push_back(source.parent_path() / w.m->inputs_file);
      return reject_job(db, dirs, *job,
                        refusal(source.filename().string(), summary,
                                "correct what is listed (line numbers count the inputs from 1) and drop the "
                                "manifest into inbox/ again"),
                        std::move(errors), w.problem_count, companions, now);
    }
    report.endpoint = w.m->endpoint;
    report.model = w.m->model;
    report.requests = w.assembled.requests;
    report.output_token_caps = w.assembled.output_token_caps;
    report.chunks = std::move(w.assembled.chunks);
    total = w.assembled.inputs;
    max_cost = w.m->max_cost;
  } else {
    report = split_request_file(source, {opt.limits, 20});
    if (!report.errors.empty()) {
      json errors = json::array();
      for (const auto& e : report.errors)
        errors.push_back({{"line", e.line}, {"message", e.message}, {"hint", e.hint}});
      const auto summary = std::to_string(report.lines_with_errors) + " line" +
                           (report.lines_with_errors == 1 ? " is" : "s are") + " not valid";
      auto doc = refusal(source.filename().string(), summary,
                         "correct the lines listed (line numbers count from 1) and drop the file into "
                         "inbox/ again");
      doc["lines_with_errors"] = report.lines_with_errors;
      return reject_job(db, dirs, *job, std::move(doc), std::move(errors), report.lines_with_errors, {}, now);
    }
    total = report.requests;
  }
  db.transaction([&] {
    db.set_job_request(job_id, report.endpoint, report.model, total);
    std::int64_t input_tokens = 0;
    for (const auto& c : report.chunks) input_tokens += c.estimated_prompt_tokens;
    db.set_job_estimate(job_id, input_tokens, report.output_token_caps);
    if (max_cost) db.set_job_max_cost(job_id, max_cost);
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
    // The dropped file: a manifest (its inputs file may lie beside it), else the request file.
    std::optional<fs::path> source;
    bool manifest_file = false;
    for (const auto& f : fs::directory_iterator(entry.path())) {
      const auto name = f.path().filename().string();
      if (!f.is_regular_file() || is_inputs_file_name(name)) continue;
      if (name.ends_with(".job.json")) {
        source = f.path();
        manifest_file = true;
        break;
      }
      if (name.ends_with(".jsonl")) source = f.path();
    }
    if (!source) continue;
    db.insert_job(job, manifest_file ? "manifest" : "requests", source->string(), now);
    ++adopted;
  }
  return adopted;
}

}  // namespace batchd::jobs
