#include "job_kind.hpp"

#include <stdexcept>

#include "database.hpp"
#include "manifest_kind.hpp"
#include "request_file_kind.hpp"

namespace batchd::jobs {
using nlohmann::json;

job_spec job_spec::parse(const std::string& text) {
  job_spec s;
  if (text.empty()) return s;
  const auto j = json::parse(text);
  s.ids = j.value("ids", std::vector<std::string>{});
  s.metadata = j.value("metadata", std::map<std::string, std::string>{});
  s.packs = j.value("packs", false);
  s.input_order = j.value("input_order", true);
  s.model = j.value("model", "");
  s.id_prefix = j.value("id_prefix", "");
  s.id_field = j.value("id_field", "");
  s.output = j.value("output", "jsonl");
  s.float_lines = j.value("float_lines", false);
  s.texts = j.value("texts", "");
  return s;
}

std::string job_spec::dump() const {
  return json{{"ids", ids},           {"metadata", metadata}, {"packs", packs},       {"input_order", input_order},
              {"model", model},       {"id_prefix", id_prefix}, {"id_field", id_field},
              {"output", output},     {"float_lines", float_lines}, {"texts", texts}}
      .dump();
}

json refusal(const std::string& filename, const std::string& error, const std::string& fix) {
  return {{"file", filename}, {"error", error}, {"fix", fix}};
}

const job_kind& kind_of(std::string_view name) {
  static const request_file_kind requests;
  static const manifest_kind manifests;
  if (name == requests.name()) return requests;
  if (name == manifests.name()) return manifests;
  throw std::invalid_argument("unknown kind of job: " + std::string(name));
}

const job_kind* kind_for_file(const std::string& filename) {
  if (filename.ends_with(".job.json")) return &kind_of("manifest");
  if (filename.ends_with(".jsonl")) return &kind_of("requests");
  return nullptr;
}

}  // namespace batchd::jobs
