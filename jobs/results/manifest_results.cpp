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

using missing_lines = std::vector<std::pair<std::string, std::string>>;

// The parts' files, open for reading lines at their offsets.
struct open_parts {
  std::vector<std::FILE*> files;
  explicit open_parts(const std::vector<fs::path>& parts) {
    for (const auto& p : parts) files.push_back(std::fopen(p.c_str(), "rb"));
  }
  ~open_parts() {
    for (auto* f : files)
      if (f) std::fclose(f);
  }
  open_parts(const open_parts&) = delete;
  open_parts& operator=(const open_parts&) = delete;
};

// Writes one output file (results or errors) from its parts. For results,
// inputs a packed response left out are added to `missing` as error lines,
// and each embedding goes to `vectors` too when the job has a vector file.
class sorted_writer {
 public:
  sorted_writer(outbox_writer& out, const job_spec& m, id_book& ids, bool results, missing_lines& missing,
                vectors::vector_file* vectors)
      : out_(out), m_(m), ids_(ids), results_(results), missing_(missing), vectors_(vectors),
        needs_floats_(vectors || m.float_lines) {}

  void write(const std::vector<fs::path>& parts) {
    auto lines = locate(parts, ids_, m_.packs);
    if (m_.input_order || vectors_)  // a vector file's rows are in input order
      std::stable_sort(lines.begin(), lines.end(),
                       [](const located& a, const located& b) { return a.first_input < b.first_input; });
    const open_parts opened(parts);
    for (const auto& l : lines) {
      const auto line = read_at(opened.files[l.part], l.offset, l.length);
      std::int64_t first = 0, count = 0;
      simdjson::dom::element doc;
      std::string_view custom_id;
      if (parser_.parse(line).get(doc) || doc["custom_id"].get(custom_id)) continue;  // not a result line
      if (!m_.packs || !jobfiles::parse_pack_id(custom_id, first, count)) {
        line_as_sent(custom_id, line);  // one input, the line as OpenAI sent it
      } else if (results_) {
        unpack(doc, first, count);
      } else {
        spread_error(line, first, count);
      }
    }
    if (!results_)
      for (const auto& [id, line] : missing_) out_.error(id, line);
  }

 private:
  void line_as_sent(std::string_view id, std::string_view line) {
    if (results_) out_.result(id, line);
    else out_.error(id, line);
  }

  // Each embedding of the packed response becomes its input's line, in index
  // order (so a vector file's rows follow the inputs); an input the response
  // skipped becomes an error: no line is lost.
  void unpack(simdjson::dom::element doc, std::int64_t first, std::int64_t count) {
    std::string_view model;
    if (doc.at_pointer("/response/body/model").get(model)) model = m_.model;
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
    for (std::int64_t i = 0; i < count; ++i)
      if (seen[static_cast<std::size_t>(i)] && !embedding_line(first + i, model, found[static_cast<std::size_t>(i)]))
        seen[static_cast<std::size_t>(i)] = false;  // unreadable: an error line below, never a wrong vector
    for (std::int64_t i = 0; i < count; ++i)
      if (!seen[static_cast<std::size_t>(i)])
        missing_.emplace_back(ids_.id_at(first + i),
                              json{{"custom_id", ids_.id_at(first + i)},
                                   {"response", nullptr},
                                   {"error", {{"code", "missing_embedding"},
                                              {"message", "The response to the packed request had no embedding for this input."}}}}
                                  .dump());
  }

  // Input `input`'s line (and vector file row); false when its embedding cannot be read.
  bool embedding_line(std::int64_t input, std::string_view model, simdjson::dom::element embedding) {
    const auto& id = ids_.id_at(input);
    if (needs_floats_ && (!floats_of(embedding, floats_) || (vectors_ && !vectors_->fits(floats_.size()))))
      return false;
    bool admitted = false;
    if (!m_.writes_lines()) {
      admitted = out_.result_elsewhere(id);
    } else {
      buf_ = json{{"custom_id", id}, {"model", std::string(model)}}.dump();
      buf_.pop_back();
      buf_ += ",\"embedding\":";
      // base64 batchd asked for itself goes back to the floats the user expects.
      if (m_.float_lines && embedding.is_string()) vectors::append_floats_json(buf_, floats_);
      else buf_ += simdjson::minify(embedding);
      buf_ += '}';
      admitted = out_.result(id, buf_);
    }
    if (admitted && vectors_) vectors_->add(input, id, floats_);
    return true;
  }

  // A packed request's error, once for each of its inputs.
  void spread_error(const std::string& line, std::int64_t first, std::int64_t count) {
    auto error_line = json::parse(line);
    for (std::int64_t i = 0; i < count; ++i) {
      const auto& id = ids_.id_at(first + i);
      error_line["custom_id"] = id;
      out_.error(id, error_line.dump());
    }
  }

  outbox_writer& out_;
  const job_spec& m_;
  id_book& ids_;
  const bool results_;
  missing_lines& missing_;
  vectors::vector_file* vectors_;
  const bool needs_floats_;
  simdjson::dom::parser parser_;
  std::string buf_;
  std::vector<float> floats_;
};

}  // namespace

void publish_manifest_results(outbox_writer& out, const result_parts& parts, const job_spec& spec) {
  id_book book(spec);
  missing_lines missing;
  std::optional<vectors::vector_file> vectors;
  if (spec.writes_vectors()) vectors.emplace(out.dir(), spec.texts);
  sorted_writer(out, spec, book, true, missing, vectors ? &*vectors : nullptr).write(parts.results);
  sorted_writer(out, spec, book, false, missing, nullptr).write(parts.errors);
  if (vectors) vectors->commit();
}

}  // namespace batchd::jobs
