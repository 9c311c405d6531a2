// The Files API routes: upload (streamed multipart), list, retrieve, delete.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "sim/api.hpp"
#include "sim/api_error.hpp"
#include "sim/multipart.hpp"

namespace batchd::sim {
namespace {

using nlohmann::json;

constexpr std::int64_t max_upload_bytes = 512LL * 1024 * 1024;
constexpr std::int64_t max_batch_upload_bytes = 209'715'200;
constexpr std::size_t max_field_bytes = 4096;

// Parses POST /v1/files as it arrives: the `file` part goes straight to a
// file in the data directory, the small fields into memory.
class multipart_upload final : public upload_sink, part_handler {
 public:
  multipart_upload(std::string_view boundary, std::filesystem::path temp)
      : parser_(boundary, *this), temp_(std::move(temp)) {}
  ~multipart_upload() override {
    if (out_) std::fclose(out_);
    if (!taken_) std::filesystem::remove(temp_);
  }

  void write(std::string_view bytes) override {
    if (!error_.empty()) return;
    try {
      parser_.feed(bytes);
    } catch (const multipart_error& e) {
      error_ = e.what();
    }
  }
  // Ends the body; returns an error message or "".
  std::string finish() {
    if (error_.empty()) {
      try {
        parser_.finish();
      } catch (const multipart_error& e) {
        error_ = e.what();
      }
    }
    if (out_) {
      if (std::fclose(out_) != 0 && error_.empty()) error_ = "could not store the file";
      out_ = nullptr;
    }
    return error_;
  }

  const std::map<std::string, std::string>& fields() const { return fields_; }
  const std::optional<std::string>& filename() const { return filename_; }
  std::int64_t file_bytes() const { return file_bytes_; }
  // Hands the stored content over to the caller.
  const std::filesystem::path& take() {
    taken_ = true;
    return temp_;
  }

 private:
  void begin_part(const part_info& part) override {
    current_ = part.name;
    if (part.name == "file") {
      if (filename_) throw multipart_error("more than one file part");
      filename_ = part.filename.value_or("upload");
      out_ = std::fopen(temp_.c_str(), "wb");
      if (!out_) throw multipart_error("could not store the file");
      // glibc ignores the size when it picks the buffer itself: give it one.
      std::setvbuf(out_, buffer_.get(), _IOFBF, buffer_size);
    }
  }
  void part_data(std::string_view bytes) override {
    if (current_ == "file") {
      file_bytes_ += static_cast<std::int64_t>(bytes.size());
      if (file_bytes_ > max_upload_bytes) throw multipart_error("file exceeds 512 MB");
      if (std::fwrite(bytes.data(), 1, bytes.size(), out_) != bytes.size())
        throw multipart_error("could not store the file");
    } else {
      auto& field = fields_[current_];
      if (field.size() + bytes.size() > max_field_bytes)
        throw multipart_error("form field '" + current_ + "' is too long");
      field.append(bytes);
    }
  }
  void end_part() override { current_.clear(); }

  multipart_parser parser_;
  std::filesystem::path temp_;
  static constexpr std::size_t buffer_size = 1 << 20;
  std::unique_ptr<char[]> buffer_ = std::make_unique<char[]>(buffer_size);
  std::FILE* out_ = nullptr;
  bool taken_ = false;
  std::string current_, error_;
  std::map<std::string, std::string> fields_;
  std::optional<std::string> filename_;
  std::int64_t file_bytes_ = 0;
};

}  // namespace

std::unique_ptr<upload_sink> api::open_upload(const http_request& req) {
  if (req.method != "POST" || req.path != "/v1/files") return nullptr;
  auto boundary = multipart_boundary(req.content_type);
  if (!boundary) return nullptr;
  return std::make_unique<multipart_upload>(*boundary, files_.temp_path());
}

http_response api::create_file(upload_sink* sink) {
  auto* upload = dynamic_cast<multipart_upload*>(sink);
  if (!upload)
    throw api_exception(400, "Expected a multipart/form-data request body with 'file' and 'purpose'.");
  if (auto error = upload->finish(); !error.empty())
    throw api_exception(400, "Could not parse multipart form: " + error);
  const auto& fields = upload->fields();
  auto& attempts = stats_.upload_attempts[upload->filename().value_or("")];
  if (auto refused = refuse_create(attempts, true)) return *refused;
  static const std::set<std::string> purposes = {"assistants", "batch",     "fine-tune",
                                                 "vision",     "user_data", "evals"};
  auto purpose = fields.find("purpose");
  if (purpose == fields.end())
    throw api_exception(400, "Missing required parameter: 'purpose'.", "purpose");
  if (!purposes.count(purpose->second))
    throw api_exception(400,
                        "'" + purpose->second +
                            "' is not one of ['fine-tune', 'assistants', 'batch', 'vision', "
                            "'user_data', 'evals'] - 'purpose'",
                        "purpose");
  if (!upload->filename()) throw api_exception(400, "Missing required parameter: 'file'.", "file");
  const auto& filename = *upload->filename();
  const bool jsonl = filename.size() >= 6 && filename.compare(filename.size() - 6, 6, ".jsonl") == 0;
  if ((purpose->second == "batch" || purpose->second == "fine-tune") && !jsonl)
    throw api_exception(400, "Invalid file format for " +
                                 std::string(purpose->second == "batch" ? "Batch API" : "Fine-Tuning API") +
                                 ". Must be .jsonl",
                        "file");
  if (purpose->second == "batch" && upload->file_bytes() > max_batch_upload_bytes)
    throw api_exception(400, "File is too large for purpose 'batch': the maximum is 209715200 bytes.",
                        "file");

  const auto now = clock_.now();
  const auto created = static_cast<std::int64_t>(now);
  std::optional<std::int64_t> expires_at;
  if (purpose->second == "batch") expires_at = created + 30 * 86400;
  auto anchor = fields.find("expires_after[anchor]");
  auto seconds = fields.find("expires_after[seconds]");
  if (anchor != fields.end() || seconds != fields.end()) {
    std::int64_t s = 0;
    try {
      s = seconds == fields.end() ? 0 : std::stoll(seconds->second);
    } catch (const std::exception&) {
    }
    if (anchor == fields.end() || anchor->second != "created_at" || s < 3600 || s > 2592000)
      throw api_exception(400,
                          "Invalid 'expires_after': anchor must be 'created_at' and seconds "
                          "between 3600 and 2592000.",
                          "expires_after");
    expires_at = created + s;
  }
  const auto& f = files_.add(ids_.make("file-", 22), filename, purpose->second, upload->take(),
                             created, expires_at, now + faults_.settings().not_found_s);
  ++stats_.uploads_by_filename[filename];
  attempts.push_back({now, "200"});
  json j = f;
  return {200, "application/json", {}, j.dump(), {}};
}

const file_object& api::visible_file(const std::string& id) {
  const auto* f = files_.find(id);
  if (!f || f->visible_at > clock_.now())
    throw api_exception(404, "No such File object: " + id, "id");
  return *f;
}

namespace {

// limit= as an integer in [lo, hi], or the default when absent.
std::int64_t limit_param(const http_request& req, std::int64_t lo, std::int64_t hi,
                         std::int64_t fallback) {
  auto it = req.query.find("limit");
  if (it == req.query.end()) return fallback;
  std::int64_t v = 0;
  try {
    std::size_t used = 0;
    v = std::stoll(it->second, &used);
    if (used != it->second.size()) v = lo - 1;
  } catch (const std::exception&) {
    v = lo - 1;
  }
  if (v < lo || v > hi)
    throw api_exception(400,
                        "Invalid 'limit': integer between " + std::to_string(lo) + " and " +
                            std::to_string(hi) + " expected.",
                        "limit");
  return v;
}

// One page of `items` (already filtered and ordered) after the cursor.
template <class T, class Id>
json page(const std::vector<T*>& items, const http_request& req, std::int64_t limit, Id id_of) {
  std::size_t start = 0;
  if (auto after = req.query.find("after"); after != req.query.end()) {
    start = items.size();
    for (std::size_t i = 0; i < items.size(); ++i)
      if (id_of(*items[i]) == after->second) start = i + 1;
  }
  json data = json::array();
  std::size_t i = start;
  for (; i < items.size() && static_cast<std::int64_t>(data.size()) < limit; ++i)
    data.push_back(*items[i]);
  json j = {{"object", "list"}, {"data", data}, {"has_more", i < items.size()}};
  j["first_id"] = data.empty() ? json(nullptr) : data.front()["id"];
  j["last_id"] = data.empty() ? json(nullptr) : data.back()["id"];
  return j;
}

}  // namespace

bool api::listed_by(double created_at, double now) const {
  return now - created_at >= faults_.settings().list_lag_s;
}

http_response api::list_files(const http_request& req) {
  const auto limit = limit_param(req, 1, 10000, 10000);
  auto order = req.query.count("order") ? req.query.at("order") : "desc";
  if (order != "asc" && order != "desc")
    throw api_exception(400, "Invalid 'order': expected 'asc' or 'desc'.", "order");
  const auto purpose = req.query.count("purpose") ? req.query.at("purpose") : "";
  const auto now = clock_.now();
  std::vector<const file_object*> items;
  for (const auto* f : files_.ordered(order == "desc"))
    if (f->visible_at <= now && listed_by(f->created_at, now) && (purpose.empty() || f->purpose == purpose))
      items.push_back(f);
  auto j = page(items, req, limit, [](const file_object& f) { return f.id; });
  return {200, "application/json", {}, j.dump(), {}};
}

http_response api::list_batches(const http_request& req) {
  const auto limit = limit_param(req, 1, 100, 20);
  const auto now = clock_.now();
  std::vector<batch*> items;
  for (auto* b : batches_.newest_first())
    if (b->visible_at <= now && listed_by(static_cast<double>(b->created_at), now)) {
      batches_.advance(*b, now);
      items.push_back(b);
    }
  auto j = page(items, req, limit, [](const batch& b) { return b.id; });
  return {200, "application/json", {}, j.dump(), {}};
}

}  // namespace batchd::sim
