#pragma once
// The completion invariant, kept where the outbox is written: every
// custom_id a job was asked is in results.jsonl or errors.jsonl exactly
// once. Lines for an id already written, or one never asked, are dropped
// and counted; an asked id with no line gets an error line of its own.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/atomic_file.hpp"

namespace batchd::jobs {

// The ids a job was asked, from its id files (one id a line, in order).
class id_accounts {
 public:
  explicit id_accounts(const std::vector<std::string>& id_files);
  enum class mark { first, again, unknown };
  mark note(std::string_view id);
  std::int64_t total() const { return static_cast<std::int64_t>(ids_.size()); }
  // The asked ids not noted yet, in asked order.
  std::vector<std::string_view> unseen() const;

 private:
  std::string text_;                   // every id, each followed by '\n'
  std::vector<std::string_view> ids_;  // into text_, in asked order
  std::vector<std::uint32_t> by_id_;   // indexes into ids_, sorted by id
  std::vector<bool> seen_;
};

class outbox_writer {
 public:
  // Opens `dir/results.jsonl` (unless `result_lines` is false: a job whose
  // results go to another file) and `dir/errors.jsonl` under temporary names.
  outbox_writer(const std::filesystem::path& dir, id_accounts& ids, bool result_lines = true);

  // False (and nothing written) when `id` was written already or never asked.
  bool result(std::string_view id, std::string_view line);
  // A result kept elsewhere (a vector file's row), counted like a line.
  bool result_elsewhere(std::string_view id);
  const std::filesystem::path& dir() const { return dir_; }
  bool error(std::string_view id, std::string_view line);

  struct totals {
    std::int64_t results = 0, errors = 0;  // lines written, missing ones included in errors
    std::int64_t missing = 0;              // asked ids that had no line
    std::int64_t doubled = 0, unknown = 0;  // lines dropped
  };
  // Gives every asked id without a line an error line {custom_id, response:
  // null, error: {code, message}}, then puts both files in place.
  totals commit(std::string_view missing_code, std::string_view missing_message);

 private:
  bool admit(std::string_view id);
  id_accounts& ids_;
  std::filesystem::path dir_;
  std::optional<io::atomic_file> results_;
  io::atomic_file errors_;
  totals t_;
};

}  // namespace batchd::jobs
