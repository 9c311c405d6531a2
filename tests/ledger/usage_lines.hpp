#pragma once
// One result line's usage, as the ledger counts it (long-context lines too).
#include "ledger/usage.hpp"

namespace batchd::ledger::testing {

inline token_usage line(std::int64_t prompt, std::int64_t cached, std::int64_t completion, std::int64_t reasoning = 0,
                        std::int64_t cache_write = 0, std::int64_t image = 0) {
  return token_usage::of_line({.prompt = prompt,
                               .cached = cached,
                               .cache_write = cache_write,
                               .image = image,
                               .completion = completion,
                               .reasoning = reasoning});
}

}  // namespace batchd::ledger::testing
