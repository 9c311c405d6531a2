#include "jobs/lifecycle/job_outbox.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <stdexcept>

#include "io/atomic_file.hpp"
#include "jobs/results/job_report.hpp"

namespace batchd::jobs {
namespace fs = std::filesystem;

namespace {

// The parts that can be read; a missing one is logged and left out.
std::vector<fs::path> readable(const std::vector<fs::path>& parts, const std::string& job) {
  std::vector<fs::path> out;
  for (const auto& p : parts) {
    if (::access(p.c_str(), R_OK) == 0) out.push_back(p);
    else spdlog::error("job {}: result part {} cannot be read; its requests become error lines", job, p.string());
  }
  return out;
}

// Which chunk came back short, where the merges' own counts say so.
std::string short_chunks(const std::vector<store::chunk_row>& chunks) {
  std::string out;
  for (const auto& c : chunks) {
    if (c.attempt != 1 || c.ids_path.empty()) continue;
    std::int64_t accounted = 0;
    for (const auto& a : chunks)
      if (a.idx == c.idx) accounted += a.merged_succeeded + a.merged_failed;
    if (accounted != c.requests)
      out += "; chunk " + std::to_string(c.idx) + " accounted for " + std::to_string(accounted) + " of its " +
             std::to_string(c.requests) + " requests";
  }
  return out;
}

}  // namespace

outbox_result publish_outbox(const spool& dirs, const store::job_row& job, const job_spec& spec,
                             const std::vector<store::chunk_row>& chunks, bool tolerant,
                             const std::string& missing_code, const std::string& missing_message) {
  outbox_result r;
  if (spec.ids.empty()) {
    if (!chunks.empty()) throw std::logic_error("job " + job.name + " has chunks but no record of what it asked");
    return r;  // nothing was asked: nothing to publish
  }
  const auto dir = dirs.outbox / job.name;
  io::create_directories_durably(dir);
  id_accounts ids(spec.ids);
  r.asked = ids.total();
  auto parts = sorted_parts(dirs, job, chunks);
  if (tolerant) {
    parts.results = readable(parts.results, job.name);
    parts.errors = readable(parts.errors, job.name);
  }
  outbox_writer out(dir, ids, spec.writes_lines());
  kind_of(job.kind).publish(out, parts, spec);
  r.lines = out.commit(missing_code, missing_message);
  if (r.lines.doubled || r.lines.unknown)
    spdlog::warn("job {}: dropped {} result line(s) for ids already written and {} for ids never asked", job.name,
                 r.lines.doubled, r.lines.unknown);
  for (const auto& c : chunks) r.lost += c.merged_lost;
  if (const auto missing = r.lines.missing + r.lost; missing > 0) {
    r.shortfall = std::to_string(missing) + " of " + std::to_string(r.asked) +
                  " requests have no result; each is in errors.jsonl with code " + missing_code;
    if (r.lost > 0)
      r.shortfall += " (" + std::to_string(r.lost) + " could no longer be read from the job's input to be sent again)";
    r.shortfall += short_chunks(chunks);
  }
  return r;
}

}  // namespace batchd::jobs
