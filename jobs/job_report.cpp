#include "job_report.hpp"

#include <cstdio>
#include <ctime>
#include <fstream>
#include <unistd.h>

#include "stage.hpp"

namespace batchd::jobs {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string utc_format(double unix_seconds, const char* format) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

}  // namespace

std::string rfc3339(double unix_seconds) { return utc_format(unix_seconds, "%Y-%m-%dT%H:%M:%SZ"); }
std::string utc_day(double unix_seconds) { return utc_format(unix_seconds, "%Y-%m-%d"); }

json job_document(const store::job_row& job, const std::vector<store::chunk_row>& chunks, const json& money) {
  const auto stage = parse_job_stage(job.stage).value_or(job_stage::failed);
  json batches = json::array();
  for (const auto& c : chunks) {
    if (!c.batch_id) continue;
    batches.push_back({{"id", *c.batch_id},
                       {"status", c.batch_status.value_or("unknown")},
                       {"chunk", c.idx},
                       {"attempt", c.attempt},
                       {"request_counts",
                        {{"total", c.req_total}, {"completed", c.req_completed}, {"failed", c.req_failed}}}});
  }
  auto opt = [](const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); };
  json doc = {{"job", job.name},
              {"id", job.id},
              {"status", public_status(stage)},
              {"stage", job.stage},
              {"created_at", rfc3339(job.created_at)},
              {"finished_at", job.finished_at ? json(rfc3339(*job.finished_at)) : json(nullptr)},
              {"endpoint", opt(job.endpoint)},
              {"model", opt(job.model)},
              {"counts", {{"total", job.total}, {"succeeded", job.succeeded}, {"failed", job.failed}}},
              {"batches", batches},
              {"cost", nullptr}};
  for (const auto& [k, v] : money.items()) doc[k] = v;
  if (job.error) doc["error"] = *job.error;
  return doc;
}

void write_job_json(const spool& dirs, const store::job_row& job,
                    const std::vector<store::chunk_row>& chunks, const json& money) {
  const auto dir = dirs.outbox / job.name;
  fs::create_directories(dir);
  write_file_atomically(dir / "job.json", job_document(job, chunks, money).dump(2) + "\n");
}

fs::path attempt_prefix(const spool& dirs, const store::job_row& job, const store::chunk_row& c) {
  return dirs.job_dir(job.name) / "results" /
         ("chunk-" + std::to_string(c.idx) + "-attempt-" + std::to_string(c.attempt));
}

namespace {

void concatenate(const std::vector<fs::path>& parts, const fs::path& target) {
  const auto temp = target.string() + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    std::vector<char> buf(1 << 20);
    for (const auto& p : parts) {
      std::ifstream in(p, std::ios::binary);
      while (in) {  // not `out << in.rdbuf()`: an empty part would set failbit on `out`
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        out.write(buf.data(), in.gcount());
      }
    }
    out.flush();
    if (!out) throw std::runtime_error("could not write " + temp);
  }
  if (std::FILE* f = std::fopen(temp.c_str(), "rb")) {  // make the bytes durable before the rename
    ::fsync(fileno(f));
    std::fclose(f);
  }
  fs::rename(temp, target);
}

}  // namespace

result_parts sorted_parts(const spool& dirs, const store::job_row& job, const std::vector<store::chunk_row>& chunks) {
  result_parts parts;
  for (const auto& c : chunks) {
    if (c.stage != name(chunk_stage::merged) && c.stage != name(chunk_stage::failed) &&
        c.stage != name(chunk_stage::cancelled))
      continue;
    const auto prefix = attempt_prefix(dirs, job, c).string();
    parts.results.push_back(prefix + ".results.jsonl");
    parts.errors.push_back(prefix + ".errors.jsonl");
  }
  return parts;
}

void publish_results(const spool& dirs, const store::job_row& job,
                     const std::vector<store::chunk_row>& chunks) {
  const auto [results, errors] = sorted_parts(dirs, job, chunks);
  const auto dir = dirs.outbox / job.name;
  fs::create_directories(dir);
  concatenate(results, dir / "results.jsonl");
  concatenate(errors, dir / "errors.jsonl");
}

}  // namespace batchd::jobs
