#include "jobs/results/outbox_writer.hpp"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace batchd::jobs {
namespace fs = std::filesystem;

id_accounts::id_accounts(const std::vector<std::string>& id_files) {
  for (const auto& f : id_files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) throw std::system_error(errno, std::generic_category(), "open " + f);
    std::ostringstream s;
    s << in.rdbuf();
    text_ += s.str();
    if (!text_.empty() && text_.back() != '\n') text_ += '\n';
  }
  std::size_t start = 0;
  while (start < text_.size()) {
    const auto nl = text_.find('\n', start);
    if (nl > start) ids_.emplace_back(text_.data() + start, nl - start);
    start = nl + 1;
  }
  by_id_.resize(ids_.size());
  for (std::uint32_t i = 0; i < by_id_.size(); ++i) by_id_[i] = i;
  std::sort(by_id_.begin(), by_id_.end(), [&](auto a, auto b) { return ids_[a] < ids_[b]; });
  seen_.assign(ids_.size(), false);
}

id_accounts::mark id_accounts::note(std::string_view id) {
  const auto it = std::lower_bound(by_id_.begin(), by_id_.end(), id,
                                   [&](std::uint32_t i, std::string_view v) { return ids_[i] < v; });
  if (it == by_id_.end() || ids_[*it] != id) return mark::unknown;
  if (seen_[*it]) return mark::again;
  seen_[*it] = true;
  return mark::first;
}

std::vector<std::string_view> id_accounts::unseen() const {
  std::vector<std::string_view> out;
  for (std::size_t i = 0; i < ids_.size(); ++i)
    if (!seen_[i]) out.push_back(ids_[i]);
  return out;
}

outbox_writer::outbox_writer(const fs::path& dir, id_accounts& ids, bool result_lines)
    : ids_(ids), dir_(dir), errors_(dir / "errors.jsonl") {
  if (result_lines) results_.emplace(dir / "results.jsonl");
}

bool outbox_writer::admit(std::string_view id) {
  switch (ids_.note(id)) {
    case id_accounts::mark::first: return true;
    case id_accounts::mark::again: ++t_.doubled; return false;
    case id_accounts::mark::unknown: ++t_.unknown; return false;
  }
  return false;
}

bool outbox_writer::result(std::string_view id, std::string_view line) {
  if (!results_) throw std::logic_error("this job's results go to another file");
  if (!admit(id)) return false;
  results_->line(line);
  ++t_.results;
  return true;
}

bool outbox_writer::result_elsewhere(std::string_view id) {
  if (!admit(id)) return false;
  ++t_.results;
  return true;
}

bool outbox_writer::error(std::string_view id, std::string_view line) {
  if (!admit(id)) return false;
  errors_.line(line);
  ++t_.errors;
  return true;
}

outbox_writer::totals outbox_writer::commit(std::string_view missing_code, std::string_view missing_message) {
  for (const auto id : ids_.unseen()) {
    errors_.line(nlohmann::json{{"custom_id", std::string(id)},
                                {"response", nullptr},
                                {"error", {{"code", std::string(missing_code)}, {"message", std::string(missing_message)}}}}
                     .dump());
    ++t_.errors;
    ++t_.missing;
  }
  if (results_) results_->commit();
  errors_.commit();
  return t_;
}

}  // namespace batchd::jobs
