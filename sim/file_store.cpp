#include "sim/file_store.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace batchd::sim {

void to_json(nlohmann::json& j, const file_object& f) {
  j = {{"id", f.id},
       {"object", "file"},
       {"bytes", f.bytes},
       {"created_at", f.created_at},
       {"expires_at", f.expires_at ? nlohmann::json(*f.expires_at) : nlohmann::json(nullptr)},
       {"filename", f.filename},
       {"purpose", f.purpose},
       {"status", "processed"},
       {"status_details", nullptr}};
}

file_store::file_store(std::filesystem::path dir) : dir_(std::move(dir)) {
  std::filesystem::create_directories(dir_);
}

std::filesystem::path file_store::temp_path() {
  return dir_ / ("part-" + std::to_string(next_temp_++) + ".tmp");
}

const file_object& file_store::add(std::string id, std::string filename, std::string purpose,
                                   const std::filesystem::path& content, std::int64_t created_at,
                                   std::optional<std::int64_t> expires_at, double visible_at) {
  file_object f;
  f.path = dir_ / id;
  std::filesystem::rename(content, f.path);
  f.bytes = static_cast<std::int64_t>(std::filesystem::file_size(f.path));
  f.id = std::move(id);
  f.filename = std::move(filename);
  f.purpose = std::move(purpose);
  f.created_at = created_at;
  f.expires_at = expires_at;
  f.seq = next_seq_++;
  f.visible_at = visible_at;
  auto [it, _] = files_.emplace(f.id, std::move(f));
  return it->second;
}

const file_object* file_store::find(const std::string& id) const {
  auto it = files_.find(id);
  return it == files_.end() ? nullptr : &it->second;
}

bool file_store::remove(const std::string& id) {
  auto it = files_.find(id);
  if (it == files_.end()) return false;
  std::error_code ec;
  std::filesystem::remove(it->second.path, ec);
  files_.erase(it);
  return true;
}

std::vector<const file_object*> file_store::ordered(bool newest_first) const {
  std::vector<const file_object*> out;
  out.reserve(files_.size());
  for (const auto& [_, f] : files_) out.push_back(&f);
  std::sort(out.begin(), out.end(), [&](auto* a, auto* b) {
    return newest_first ? a->seq > b->seq : a->seq < b->seq;
  });
  return out;
}

}  // namespace batchd::sim
