#include "jobs/core/job_spec.hpp"

#include <nlohmann/json.hpp>

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

}  // namespace batchd::jobs
