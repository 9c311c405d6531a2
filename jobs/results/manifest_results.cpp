#include "jobs/results/manifest_results.hpp"

#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <nlohmann/json.hpp>
#include <system_error>
#include <optional>
#include <unordered_map>

#include "jobs/results/job_report.hpp"
#include "jobs/results/outbox_writer.hpp"
#include "io/line_reader.hpp"
#include "jobfiles/manifest_assembly.hpp"
#include "vectors/vector_file.hpp"

namespace batchd::jobs {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A result line found in one of the part files, and where its inputs start.
struct located {
  std::int64_t first_input = 0;  // 0-based input index (the sort key)
  std::uint32_t part = 0;
  std::uint64_t offset = 0;
  std::uint32_t length = 0;
};

class id_book {
 public:
  explicit id_book(const job_spec& spec) : m_(spec), file_(spec.ids.empty() ? fs::path() : fs::path(spec.ids[0])) {}

  // The input index of a 1:1 request's custom_id; -1 if unknown.
  std::int64_t index_of(const std::string& id) {
    if (m_.id_field.empty()) {
      if (id.rfind(m_.id_prefix, 0) != 0) return -1;
      try {
        return std::stoll(id.substr(m_.id_prefix.size())) - 1;
      } catch (const std::exception&) {
        return -1;
      }
    }
    load();
    auto it = index_.find(id);
    return it == index_.end() ? -1 : it->second;
  }

  const std::string& id_at(std::int64_t index) {
    if (m_.id_field.empty()) {
      scratch_ = m_.id_prefix + std::to_string(index + 1);
      return scratch_;
    }
    load();
    return ids_.at(static_cast<std::size_t>(index));
  }

 private:
  void load() {
    if (loaded_) return;
    loaded_ = true;
    std::ifstream in(file_);
    for (std::string s; std::getline(in, s);) ids_.push_back(s);
    for (std::size_t i = 0; i < ids_.size(); ++i) index_.emplace(ids_[i], static_cast<std::int64_t>(i));
  }
  const job_spec& m_;
  fs::path file_;
  bool loaded_ = false;
  std::vector<std::string> ids_;
  std::unordered_map<std::string, std::int64_t> index_;
  std::string scratch_;
};

std::vector<located> locate(const std::vector<fs::path>& parts, id_book& ids, bool packed) {
  std::vector<located> out;
  simdjson::dom::parser parser;
  for (std::uint32_t p = 0; p < parts.size(); ++p) {
    if (!fs::exists(parts[p])) throw std::runtime_error("a sorted result part is missing: " + parts[p].string());
    io::line_reader reader(parts[p]);
    std::string_view line;
    std::uint64_t start = 0;
    while (reader.next(line)) {
      located l{0, p, start, static_cast<std::uint32_t>(line.size())};
      start = reader.position();
      simdjson::dom::element doc;
      std::string_view id;
      if (parser.parse(line.data(), line.size(), false).get(doc) || doc["custom_id"].get(id)) continue;
      std::int64_t first = 0, count = 0;
      if (packed && jobfiles::parse_pack_id(id, first, count)) l.first_input = first;
      else l.first_input = ids.index_of(std::string(id));
      out.push_back(l);
    }
  }
  return out;
}

std::string read_at(std::FILE* f, std::uint64_t offset, std::uint32_t length) {
  std::string s(length, '\0');
  if (::pread(fileno(f), s.data(), length, static_cast<off_t>(offset)) != static_cast<ssize_t>(length))
    throw std::system_error(errno, std::generic_category(), "read a result line");
  return s;
}

// An embedding's numbers, from base64 or from an array: false unless it is
// a non-empty vector of finite floats.
bool floats_of(simdjson::dom::element e, std::vector<float>& out) {
  std::string_view text;
  if (!e.get(text)) {
    if (!vectors::decode_base64_floats(text, out)) return false;
  } else {
    simdjson::dom::array a;
    if (e.get(a)) return false;
    out.clear();
    for (auto x : a) {
      double d = 0;
      if (x.get(d)) return false;
      out.push_back(static_cast<float>(d));
    }
  }
  return !out.empty() && std::all_of(out.begin(), out.end(), [](float f) { return std::isfinite(f); });
}

// Writes one output file from its parts. For results, inputs a packed
// response left out are added to `missing` as error lines, and each
// embedding goes to `vectors` too when the job has a vector file.
void write_sorted(const std::vector<fs::path>& parts, outbox_writer& out, const job_spec& m, id_book& ids,
                  bool results, std::vector<std::pair<std::string, std::string>>& missing, vectors::vector_file* vectors) {
  auto write = [&](std::string_view id, std::string_view line) {
    if (results) out.result(id, line);
    else out.error(id, line);
  };
  auto lines = locate(parts, ids, m.packs);
  if (m.input_order || vectors)  // a vector file's rows are in input order
    std::stable_sort(lines.begin(), lines.end(),
                     [](const located& a, const located& b) { return a.first_input < b.first_input; });
  struct open_parts {
    std::vector<std::FILE*> files;
    ~open_parts() {
      for (auto* f : files)
        if (f) std::fclose(f);
    }
  } opened;
  auto& files = opened.files;
  for (const auto& p : parts) files.push_back(std::fopen(p.c_str(), "rb"));
  simdjson::dom::parser parser;
  std::string buf;
  std::vector<float> floats;
  const bool needs_floats = vectors || m.float_lines;
  for (const auto& l : lines) {
    const auto line = read_at(files[l.part], l.offset, l.length);
    std::int64_t first = 0, count = 0;
    simdjson::dom::element doc;
    std::string_view custom_id;
    if (parser.parse(line).get(doc) || doc["custom_id"].get(custom_id)) continue;  // not a result line
    if (!m.packs || !jobfiles::parse_pack_id(custom_id, first, count)) {
      write(custom_id, line);  // one input, the line as OpenAI sent it
      continue;
    }
    if (results) {
      // Each embedding of the packed response becomes its input's line.
      std::string_view model;
      if (doc.at_pointer("/response/body/model").get(model)) model = m.model;
      std::vector<simdjson::dom::element> found(static_cast<std::size_t>(count));
      std::vector<bool> seen(static_cast<std::size_t>(count));
      simdjson::dom::array data;
      if (!doc.at_pointer("/response/body/data").get(data)) {
        for (auto item : data) {
          std::int64_t index = 0;
          simdjson::dom::element embedding;
          if (item["index"].get(index) || item["embedding"].get(embedding) || index < 0 || index >= count ||
              seen[static_cast<std::size_t>(index)])
            continue;
          seen[static_cast<std::size_t>(index)] = true;
          found[static_cast<std::size_t>(index)] = embedding;
        }
      }
      // In index order, so that a vector file's rows follow the inputs.
      for (std::int64_t i = 0; i < count; ++i) {
        if (!seen[static_cast<std::size_t>(i)]) continue;
        const auto& id = ids.id_at(first + i);
        const auto embedding = found[static_cast<std::size_t>(i)];
        if (needs_floats && (!floats_of(embedding, floats) || (vectors && !vectors->fits(floats.size())))) {
          seen[static_cast<std::size_t>(i)] = false;  // unreadable: an error line below, never a wrong vector
          continue;
        }
        bool admitted = false;
        if (!m.writes_lines()) {
          admitted = out.result_elsewhere(id);
        } else {
          buf = json{{"custom_id", id}, {"model", std::string(model)}}.dump();
          buf.pop_back();
          buf += ",\"embedding\":";
          // base64 batchd asked for itself goes back to the floats the user expects.
          if (m.float_lines && embedding.is_string()) vectors::append_floats_json(buf, floats);
          else buf += simdjson::minify(embedding);
          buf += '}';
          admitted = out.result(id, buf);
        }
        if (admitted && vectors) vectors->add(first + i, id, floats);
      }
      // No line is lost: an input the response skipped becomes an error.
      for (std::int64_t i = 0; i < count; ++i)
        if (!seen[static_cast<std::size_t>(i)])
          missing.emplace_back(ids.id_at(first + i), json{{"custom_id", ids.id_at(first + i)},
                                 {"response", nullptr},
                                 {"error", {{"code", "missing_embedding"},
                                            {"message", "The response to the packed request had no embedding for this input."}}}}
                                .dump());
    } else {
      // The request's error, once for each of its inputs.
      auto error_line = json::parse(line);
      for (std::int64_t i = 0; i < count; ++i) {
        const auto& id = ids.id_at(first + i);
        error_line["custom_id"] = id;
        out.error(id, error_line.dump());
      }
    }
  }
  if (!results)
    for (const auto& [id, line] : missing) out.error(id, line);
}

}  // namespace

void publish_manifest_results(outbox_writer& out, const result_parts& parts, const job_spec& spec) {
  id_book book(spec);
  std::vector<std::pair<std::string, std::string>> missing;
  std::optional<vectors::vector_file> vectors;
  if (spec.writes_vectors()) vectors.emplace(out.dir(), spec.texts);
  write_sorted(parts.results, out, spec, book, true, missing, vectors ? &*vectors : nullptr);
  write_sorted(parts.errors, out, spec, book, false, missing, nullptr);
  if (vectors) vectors->commit();
}

}  // namespace batchd::jobs
