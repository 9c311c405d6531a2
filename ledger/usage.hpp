#pragma once
// Tokens a model used, as result lines report them in `usage`.
#include <cstdint>

namespace batchd::ledger {

struct token_usage {
  std::int64_t requests = 0;       // successful result lines counted
  std::int64_t prompt = 0;         // prompt (input) tokens, cached ones included, as the API counts them
  std::int64_t cached = 0;         // of which served from the prompt cache
  std::int64_t completion = 0;     // completion (output) tokens
  std::int64_t without_usage = 0;  // lines that carried no usage: their cost is unknown

  token_usage& operator+=(const token_usage& o) {
    requests += o.requests;
    prompt += o.prompt;
    cached += o.cached;
    completion += o.completion;
    without_usage += o.without_usage;
    return *this;
  }
};

}  // namespace batchd::ledger
