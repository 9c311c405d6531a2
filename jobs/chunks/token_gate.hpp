#pragma once
// The enqueued-token limit per model (API-FACTS: a batch whose tokens would
// pass it fails with token_limit_exceeded): configured, or learned from the
// API's refusals, and asked before each create.
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace batchd::store {
class database;
}

namespace batchd::jobs {

class token_gate {
 public:
  explicit token_gate(std::int64_t configured = 0) : configured_(configured) {}
  void set_configured(std::int64_t limit) { configured_ = limit; }
  // Learns the limit from a token_limit_exceeded message, where it says it.
  void learn(const std::string& model, const std::string& message);
  // Whether a chunk of `tokens` must wait while others of `model` are in flight.
  bool must_wait(store::database& db, const std::string& model, std::int64_t tokens) const;

 private:
  std::int64_t configured_;                   // 0: learn it
  std::map<std::string, std::int64_t> learned_;
};

// "… Limit: 2,000,000 enqueued tokens …" → 2000000.
std::optional<std::int64_t> parse_token_limit(const std::string& message);

}  // namespace batchd::jobs
