#include "jobfiles/manifest_assembly.hpp"

#include <simdjson.h>

#include "io/line_reader.hpp"
#include "jobfiles/manifest_assembler.hpp"

namespace batchd::jobfiles {
namespace fs = std::filesystem;
using nlohmann::json;

std::string pack_id(std::int64_t first, std::int64_t count) {
  return "batchd-pack-" + std::to_string(first) + "-" + std::to_string(count);
}

bool parse_pack_id(std::string_view id, std::int64_t& first, std::int64_t& count) {
  constexpr std::string_view prefix = "batchd-pack-";
  if (id.substr(0, prefix.size()) != prefix) return false;
  id.remove_prefix(prefix.size());
  const auto dash = id.find('-');
  if (dash == std::string_view::npos) return false;
  try {
    first = std::stoll(std::string(id.substr(0, dash)));
    count = std::stoll(std::string(id.substr(dash + 1)));
  } catch (const std::exception&) {
    return false;
  }
  return count > 0 && first >= 0;
}

namespace {

// Inline inputs: strings or objects.
void take_inline(manifest_assembler& a, const json& inputs) {
  std::int64_t line = 0;
  std::string text;
  for (const auto& v : inputs) {
    input_item in;
    in.line = ++line;
    if (v.is_string()) {
      text = v.get<std::string>();
      in.text = text;
    } else if (v.is_object()) {
      in.is_text = false;
      in.field = [&v](const std::string& name, std::string& out) {
        if (!v.contains(name)) return false;
        out = v[name].dump();
        return true;
      };
    } else {
      a.problem(line, "an input must be a string or an object", "");
      continue;
    }
    a.take(in);
  }
}

// An inputs file: *.txt (a text a line) or *.inputs.jsonl (an object a line).
void take_file(manifest_assembler& a, const fs::path& inputs_file) {
  const bool objects = inputs_file.string().ends_with(".jsonl");
  io::line_reader reader(inputs_file);
  simdjson::dom::parser parser;
  std::string_view line;
  simdjson::dom::element doc;
  while (reader.next(line)) {
    input_item in;
    in.line = reader.line_number();
    if (!simdjson::validate_utf8(line.data(), line.size())) {
      a.problem(in.line, "the line is not valid UTF-8", "save the file as UTF-8");
      continue;
    }
    if (!objects) {
      in.text = line;
    } else {
      if (parser.parse(line.data(), line.size(), false).get(doc) || !doc.is_object()) {
        a.problem(in.line, "the line is not a JSON object", "each line of a *.inputs.jsonl file is one object");
        continue;
      }
      in.is_text = false;
      in.field = [&doc](const std::string& name, std::string& out) {
        simdjson::dom::element v;
        if (doc[name].get(v)) return false;
        out = simdjson::minify(v);
        return true;
      };
    }
    a.take(in);
  }
}

}  // namespace

assembly_report assemble_manifest(const manifest& m, const fs::path& inputs_file, const fs::path& requests_path,
                                  const fs::path& ids_path, const fs::path& texts_path, const batch_limits& limits,
                                  std::size_t max_problems) {
  manifest_assembler a(m, requests_path, ids_path, texts_path, limits, max_problems);
  if (m.inputs) take_inline(a, *m.inputs);
  else take_file(a, inputs_file);
  return a.finish();
}

}  // namespace batchd::jobfiles
