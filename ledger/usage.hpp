#pragma once
// Tokens a model used, as result lines report them in `usage`.
#include <cstdint>

namespace batchd::ledger {

// A request's input passing this many tokens is priced, whole, at its
// model's long-context rates where the table has them (OpenAI: "more than
// 272K input tokens"; exactly 272,000 is short).
inline constexpr std::int64_t long_context_input_tokens = 272'000;

// Token counts as the API reports them: the parts ("of which") are inside
// their totals, as the API counts them.
struct tokens {
  std::int64_t prompt = 0;       // input tokens, cached, cache writes and images included
  std::int64_t cached = 0;       // of which read from the prompt cache
  std::int64_t cache_write = 0;  // of which written to the prompt cache
  std::int64_t image = 0;        // of which image tokens (image models price them apart)
  std::int64_t completion = 0;   // output tokens, reasoning included
  std::int64_t reasoning = 0;    // of which reasoning

  tokens& operator+=(const tokens& o) {
    prompt += o.prompt;
    cached += o.cached;
    cache_write += o.cache_write;
    image += o.image;
    completion += o.completion;
    reasoning += o.reasoning;
    return *this;
  }
};

struct token_usage : tokens {
  std::int64_t requests = 0;       // successful result lines counted
  std::int64_t without_usage = 0;  // lines that carried no usage: their cost is unknown
  tokens above_272k;               // of the tokens, those of requests past long_context_input_tokens

  // One line's usage: into above_272k too when its input is long.
  static token_usage of_line(const tokens& t) {
    token_usage u;
    static_cast<tokens&>(u) = t;
    u.requests = 1;
    if (t.prompt > long_context_input_tokens) u.above_272k = t;
    return u;
  }

  token_usage& operator+=(const token_usage& o) {
    tokens::operator+=(o);
    requests += o.requests;
    without_usage += o.without_usage;
    above_272k += o.above_272k;
    return *this;
  }
};

}  // namespace batchd::ledger
