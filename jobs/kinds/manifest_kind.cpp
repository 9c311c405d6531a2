#include "jobs/kinds/manifest_kind.hpp"

#include <simdjson.h>

#include "io/atomic_file.hpp"
#include "store/database.hpp"
#include "io/line_reader.hpp"
#include "jobfiles/manifest.hpp"
#include "jobfiles/manifest_assembly.hpp"
#include "jobs/results/manifest_results.hpp"

namespace batchd::jobs {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The custom_ids of one chunk of the requests batchd wrote itself.
void write_chunk_ids(const jobfiles::chunk_file& c, const fs::path& target) {
  io::atomic_file out(target);
  io::line_reader reader(c.path, c.offset, static_cast<std::uint64_t>(c.bytes));
  simdjson::dom::parser parser;
  std::string_view line;
  while (reader.next(line)) {
    simdjson::dom::element doc;
    std::string_view id;
    if (parser.parse(line.data(), line.size(), false).get(doc) || doc["custom_id"].get(id))
      throw std::runtime_error("a request batchd wrote has no custom_id: " + c.path.string());
    out.line(id);
  }
  out.commit();
}

json problems_json(const std::vector<jobfiles::manifest_problem>& problems) {
  json errors = json::array();
  for (const auto& p : problems) {
    json e = {{"field", p.field}, {"message", p.message}, {"hint", p.hint}};
    if (p.line > 0) e["line"] = p.line;
    errors.push_back(e);
  }
  return errors;
}

// What later steps need of the manifest; `dir` holds the id and text files.
job_spec spec_of(const jobfiles::manifest& m, const fs::path& dir) {
  job_spec spec;
  spec.ids = {(dir / "ids.txt").string()};
  spec.metadata = m.metadata;
  spec.packs = m.packs();
  spec.input_order = m.input_order;
  spec.model = m.model;
  spec.id_prefix = m.id_prefix;
  spec.id_field = m.id_field;
  spec.output = m.output;
  spec.float_lines = m.asks_base64();
  if (m.writes_vectors()) spec.texts = (dir / "inputs.text").string();
  return spec;
}

}  // namespace

std::vector<fs::path> manifest_kind::companions(const fs::path& dropped) const {
  // Only its "inputs_file" is wanted: found without building the whole
  // document (a manifest may carry a million inline inputs).
  simdjson::padded_string text;
  if (simdjson::padded_string::load(dropped.string()).get(text)) return {};
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  std::string_view name;
  if (parser.iterate(text).get(doc) || doc.find_field_unordered("inputs_file").get_string().get(name)) return {};
  const std::string inputs(name);
  // Not through a symlink: it could point at anything this service may read.
  if (inputs.empty() || inputs.find('/') != std::string::npos || !jobfiles::is_inputs_file_name(inputs) ||
      fs::symlink_status(dropped.parent_path() / inputs).type() != fs::file_type::regular)
    return {};
  return {dropped.parent_path() / inputs};
}

assembly manifest_kind::assemble(const store::job_row& job, const fs::path& work, const jobfiles::intake_options& opt) const {
  assembly a;
  const fs::path source = job.source;
  const auto dir = source.parent_path();
  std::vector<jobfiles::manifest_problem> problems;
  const auto m = jobfiles::load_manifest(source, job.name, problems);
  if (m && !m->inputs_file.empty() && fs::symlink_status(dir / m->inputs_file).type() != fs::file_type::regular)
    problems.push_back({"inputs_file", 0,
                        "the inputs file \"" + m->inputs_file +
                            "\" was not in inbox/ (as a regular file, not a link) when the manifest arrived",
                        "drop the inputs file first, then the manifest (both into inbox/)"});
  jobfiles::assembly_report built;
  if (m && problems.empty()) {
    fs::create_directories(work);
    built = jobfiles::assemble_manifest(*m, m->inputs_file.empty() ? fs::path() : dir / m->inputs_file,
                              work / "requests.jsonl", work / "ids.txt",
                              m->writes_vectors() ? work / "inputs.text" : fs::path(), opt.limits);
    problems = std::move(built.problems);
  }
  if (!problems.empty()) {
    const auto count = std::max<std::int64_t>(built.problem_lines, static_cast<std::int64_t>(problems.size()));
    auto doc = refusal(source.filename().string(),
                       "the manifest has " + std::to_string(count) + " problem" + (count == 1 ? "" : "s"),
                       "correct what is listed (line numbers count the inputs from 1) and drop the manifest into "
                       "inbox/ again");
    if (count > static_cast<std::int64_t>(problems.size()))
      doc["note"] = "only the first " + std::to_string(problems.size()) + " are listed";
    doc["errors"] = problems_json(problems);
    a.rejection = std::move(doc);
    if (m && !m->inputs_file.empty()) a.companions.push_back(dir / m->inputs_file);
    return a;
  }
  a.endpoint = m->endpoint;
  a.model = m->model;
  a.requests = built.requests;
  a.total = built.inputs;
  a.output_token_caps = built.output_token_caps;
  a.max_cost = m->max_cost;
  a.chunks = std::move(built.chunks);
  for (std::size_t i = 0; i < a.chunks.size(); ++i) {
    a.chunks[i].ids = work / ("chunk-" + std::to_string(i + 1) + ".ids");
    write_chunk_ids(a.chunks[i], a.chunks[i].ids);
  }
  a.spec = spec_of(*m, work);
  return a;
}

job_spec manifest_kind::recover_spec(const store::job_row& job, const fs::path& job_dir, const fs::path&) const {
  std::vector<jobfiles::manifest_problem> problems;
  const auto m = jobfiles::load_manifest(job.source, job.name, problems);
  if (!m) throw std::runtime_error("job " + job.name + ": its kept manifest no longer reads");
  return spec_of(*m, job_dir);  // where that batchd wrote its ids
}

void manifest_kind::publish(outbox_writer& out, const result_parts& parts, const job_spec& spec) const {
  publish_manifest_results(out, parts, spec);
}

}  // namespace batchd::jobs
