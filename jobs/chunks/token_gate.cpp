#include "jobs/chunks/token_gate.hpp"

#include "store/database.hpp"

namespace batchd::jobs {

std::optional<std::int64_t> parse_token_limit(const std::string& message) {
  const auto at = message.find("Limit: ");
  if (at == std::string::npos) return std::nullopt;
  std::int64_t n = 0;
  bool any = false;
  for (auto i = at + 7; i < message.size(); ++i) {
    const char ch = message[i];
    if (ch >= '0' && ch <= '9') {
      n = n * 10 + (ch - '0');
      any = true;
    } else if (ch != ',') {
      break;
    }
  }
  return any ? std::optional<std::int64_t>(n) : std::nullopt;
}

void token_gate::learn(const std::string& model, const std::string& message) {
  if (auto limit = parse_token_limit(message)) learned_[model] = *limit;
}

bool token_gate::must_wait(store::database& db, const std::string& model, std::int64_t tokens) const {
  const auto it = learned_.find(model);
  const auto limit = it != learned_.end() ? it->second : configured_;
  if (limit <= 0) return false;
  const auto in_flight = db.tokens_in_flight(model);
  return in_flight > 0 && in_flight + tokens > limit;
}

}  // namespace batchd::jobs
