#include "intake.hpp"

#include <sys/stat.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "database.hpp"
#include "manifest.hpp"
#include "manifest_assembly.hpp"
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
  return !name.empty() && name[0] != '.' && !ends_with(name, ".tmp") && !ends_with(name, ".part") &&
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
  } else if (!ends_with(name, ".jsonl") && !ends_with(name, ".job.json")) {
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
  const bool is_manifest = ends_with(name, ".job.json");
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

std::optional<json> assemble_job(store::database& db, const spool& dirs, std::int64_t job_id,
                                 const intake_options& opt, double now) {
  auto job = db.job(job_id);
  if (!job || job->stage != name(job_stage::received)) return std::nullopt;
  fs::path source = job->source;
  std::optional<manifest> m;
  std::int64_t manifest_inputs = 0;
  assembly_report manifest_requests;
  if (job->kind == "manifest") {
    // The daemon writes the request lines, then checks and cuts them like a dropped file.
    std::vector<manifest_problem> problems;
    m = load_manifest(source, job->name, problems);
    assembly_report assembled;
    const auto dir = source.parent_path();
    if (m && !m->inputs_file.empty() && fs::symlink_status(dir / m->inputs_file).type() != fs::file_type::regular)
      problems.push_back({"inputs_file", 0, "the inputs file \"" + m->inputs_file + "\" was not in inbox/ (as a regular file, not a link) when the manifest arrived",
                          "drop the inputs file first, then the manifest (both into inbox/)"});
    if (m && problems.empty()) {
      assembled = assemble_manifest(*m, m->inputs_file.empty() ? fs::path() : dir / m->inputs_file,
                                    dir / "requests.jsonl", dir / "ids.txt", opt.limits);
      problems = assembled.problems;
      manifest_inputs = assembled.inputs;
    }
    manifest_requests = assembled;
    if (!problems.empty()) {
      json errors = json::array();
      for (const auto& p : problems) {
        json e = {{"field", p.field}, {"message", p.message}, {"hint", p.hint}};
        if (p.line > 0) e["line"] = p.line;
        errors.push_back(e);
      }
      const auto count = std::max<std::int64_t>(assembled.problem_lines, static_cast<std::int64_t>(problems.size()));
      const auto summary = "the manifest has " + std::to_string(count) + " problem" + (count == 1 ? "" : "s");
      auto doc = refusal(source.filename().string(), summary,
                         "correct what is listed (line numbers count the inputs from 1) and drop the manifest into "
                         "inbox/ again");
      doc["job"] = job->name;
      doc["errors"] = errors;
      if (count > static_cast<std::int64_t>(problems.size()))
        doc["note"] = "only the first " + std::to_string(problems.size()) + " problems are listed";
      const auto where = reject(dirs, source, doc);
      if (m && !m->inputs_file.empty() && fs::exists(dir / m->inputs_file))
        move_file(dir / m->inputs_file, free_path(dirs.rejected, m->inputs_file));  // nothing dropped is lost
      db.transaction([&] {
        db.move_job(job_id, "received", "failed", now, summary + " (see " + where.string() + ".error.json)");
        db.add_event(job_id, std::nullopt, "rejected: " + summary, now);
      });
      return doc;
    }
  }
  request_file_report report;
  if (m) {
    report.endpoint = m->endpoint;
    report.model = m->model;
    report.requests = manifest_requests.requests;
    report.output_token_caps = manifest_requests.output_token_caps;
    report.chunks = std::move(manifest_requests.chunks);
  } else {
    report = split_request_file(source, {opt.limits, 20});
  }
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
    if (m) {
      db.set_job_request(job_id, report.endpoint, report.model, manifest_inputs);  // counted in inputs
      db.set_job_max_cost(job_id, m->max_cost);
    }
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
      if (ends_with(name, ".job.json")) {
        source = f.path();
        manifest_file = true;
        break;
      }
      if (ends_with(name, ".jsonl")) source = f.path();
    }
    if (!source) continue;
    db.insert_job(job, manifest_file ? "manifest" : "requests", source->string(), now);
    ++adopted;
  }
  return adopted;
}

}  // namespace batchd::jobs
