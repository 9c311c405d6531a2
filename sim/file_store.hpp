#pragma once
// The Files API's storage: metadata in memory, content on disk under the
// simulator's data directory.
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace batchd::sim {

struct file_object {
  std::string id;
  std::string filename;
  std::string purpose;
  std::int64_t bytes = 0;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> expires_at;
  std::filesystem::path path;
  std::uint64_t seq = 0;   // creation order, for listing
  double visible_at = 0;   // before this (simulated) time it answers 404
};

void to_json(nlohmann::json& j, const file_object& f);

class file_store {
 public:
  explicit file_store(std::filesystem::path dir);

  // A fresh path in the data directory for content being written.
  std::filesystem::path temp_path();
  // Registers `content` (a file written under temp_path()) as a new file.
  const file_object& add(std::string id, std::string filename, std::string purpose,
                         const std::filesystem::path& content, std::int64_t created_at,
                         std::optional<std::int64_t> expires_at, double visible_at);
  const file_object* find(const std::string& id) const;
  bool remove(const std::string& id);
  // Every file, newest first or oldest first.
  std::vector<const file_object*> ordered(bool newest_first) const;

 private:
  std::filesystem::path dir_;
  std::map<std::string, file_object> files_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t next_temp_ = 0;
};

}  // namespace batchd::sim
