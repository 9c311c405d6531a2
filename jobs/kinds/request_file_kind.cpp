#include "jobs/kinds/request_file_kind.hpp"

#include <simdjson.h>

#include "store/database.hpp"
#include "jobs/results/job_report.hpp"
#include "io/line_reader.hpp"
#include "io/atomic_file.hpp"
#include "jobs/results/outbox_writer.hpp"

namespace batchd::jobs {
namespace fs = std::filesystem;
using nlohmann::json;

assembly request_file_kind::assemble(const store::job_row& job, const fs::path& work,
                                     const jobfiles::intake_options& opt) const {
  const fs::path source = job.source;
  fs::create_directories(work);
  auto report = jobfiles::split_request_file(source, {opt.limits, 20, work});
  assembly a;
  if (!report.errors.empty()) {
    json errors = json::array();
    for (const auto& e : report.errors) errors.push_back({{"line", e.line}, {"message", e.message}, {"hint", e.hint}});
    const auto summary = std::to_string(report.lines_with_errors) + " line" +
                         (report.lines_with_errors == 1 ? " is" : "s are") + " not valid";
    auto doc = refusal(source.filename().string(), summary,
                       "correct the lines listed (line numbers count from 1) and drop the file into inbox/ again");
    doc["lines_with_errors"] = report.lines_with_errors;
    if (report.lines_with_errors > static_cast<std::int64_t>(errors.size()))
      doc["note"] = "only the first " + std::to_string(errors.size()) + " are listed";
    doc["errors"] = std::move(errors);
    a.rejection = std::move(doc);
    return a;
  }
  a.endpoint = report.endpoint;
  a.model = report.model;
  a.total = a.requests = report.requests;
  a.output_token_caps = report.output_token_caps;
  a.chunks = std::move(report.chunks);
  for (const auto& c : a.chunks) a.spec.ids.push_back(c.ids.string());
  a.spec.model = a.model;
  return a;
}

job_spec request_file_kind::recover_spec(const store::job_row& job, const fs::path&, const fs::path& work) const {
  // The kept file is all there is to learn the ids from; read it once, now.
  job_spec spec;
  spec.model = job.model.value_or("");
  fs::create_directories(work);
  const auto ids = work / "asked.ids";
  io::atomic_file out(ids);
  simdjson::dom::parser parser;
  io::line_reader reader(job.source);
  std::string_view line;
  while (reader.next(line)) {
    simdjson::dom::element doc;
    std::string_view id;
    if (!parser.parse(line.data(), line.size(), false).get(doc) && !doc["custom_id"].get(id)) out.line(id);
  }
  out.commit();
  spec.ids = {ids.string()};
  return spec;
}

void request_file_kind::publish(outbox_writer& out, const result_parts& parts, const job_spec&) const {
  simdjson::dom::parser parser;
  auto copy = [&](const std::vector<fs::path>& files, bool results) {
    for (const auto& f : files) {
      if (!fs::exists(f)) throw std::runtime_error("a sorted result part is missing: " + f.string());
      io::line_reader reader(f);
      std::string_view line;
      while (reader.next(line)) {
        simdjson::dom::element doc;
        std::string_view id;
        if (parser.parse(line.data(), line.size(), false).get(doc) || doc["custom_id"].get(id)) continue;
        if (results) out.result(id, line);  // `id` lives in the parser, `line` in the reader
        else out.error(id, line);
      }
    }
  };
  copy(parts.results, true);
  copy(parts.errors, false);
}

}  // namespace batchd::jobs
