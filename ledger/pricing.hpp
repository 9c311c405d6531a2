#pragma once
// The pricing table (etc/pricing.json, built in; a file overlays it row by
// row): per model, USD per 1M tokens for input, cached input, cache writes
// and output, regular and in a batch; long-context rates for requests past
// 272,000 input tokens; image-token rates for image models; the shutdown
// date and replacement OpenAI published. Prices are held as pico-USD per
// token (money.hpp), so every cost is exact.
//
// A batch rate is the one published for the model; where none is, the
// table's batch rule (OpenAI's "50% of standard") gives it, exactly, for
// models offered in batch. A rate nobody published is absent: a cost that
// needs it is unknown, never guessed (and never 0).
#include <filesystem>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/money.hpp"
#include "ledger/usage.hpp"

namespace batchd::ledger {

// A price per token, regular and in a batch (unset: not known, or not offered in batch).
struct rate {
  picousd regular = 0;
  std::optional<picousd> batch;
  bool batch_by_rule = false;  // the batch rate was derived by the table's rule, not published
};

// A set of rates; an absent rate was not published.
struct tier {
  std::optional<rate> input, cached_input, cache_write, output;
};

struct model_price {
  tier text;                        // the usual rates
  std::optional<tier> above_272k;   // the whole request's, when its input passes 272,000 tokens
  std::optional<tier> image;        // image models: image input, cached image input, image output
  std::optional<picousd> training;  // per token, regular
  bool batch_offered = true;
  std::string shutdown;             // YYYY-MM-DD (UTC) when OpenAI turns it off; "" if none published
  std::string replacement;          // the model OpenAI names instead
  std::string as_of, source;        // where the row came from, for people checking it
  // Every rate is 0 (moderation): it costs nothing, whether its lines carry usage or not.
  bool free() const;
};

// A row found for a model, and its name (the model itself, its snapshot's
// family, or its fine-tuned row).
struct priced {
  std::string row;
  const model_price* price = nullptr;
};

struct usage_cost {
  picousd regular = 0;  // what the same tokens cost outside the Batch API
  picousd batch = 0;    // what the batch booked
  std::string row;      // the row that priced it
};

// A cost, or why it is unknown.
struct costing {
  std::optional<usage_cost> cost;
  std::string unknown_because;
};

class pricing_table {
 public:
  std::map<std::string, model_price, std::less<>> models;
  int batch_rule_percent = 50;  // a batch rate nobody published: this much off the regular one
  std::string batch_rule_source;

  // The row for `model`: its own, else its family's (a dated snapshot such as
  // gpt-4o-mini-2024-07-18 falls back to gpt-4o-mini). A fine-tuned model
  // (ft:<base>:<org>:<suffix>:<id>) has prices of its own: the row
  // ft:<base>, else ft:<base's family> — never the base model's row, whose
  // price is lower. Nullopt when unknown.
  std::optional<priced> find(std::string_view model) const;
  // What `u` costs on `model`: cached tokens at the cached rate, cache
  // writes at theirs, image tokens and an image model's output at the image
  // rates, and the tokens of requests past 272,000 input tokens at the
  // long-context rates. Unknown (with the reason) when the model is not in
  // the table, a rate it needs was never published, lines carried no usage,
  // or the sum passes int64.
  costing cost(std::string_view model, const token_usage& u) const;
  // `other`'s rows in place of (or beside) this table's, row by row: the
  // operator's file wins over the built-in row, whatever their as_of.
  void overlay(const pricing_table& other);

  // Problems are full sentences naming the model and field.
  static pricing_table from_json(const nlohmann::json& j, std::vector<std::string>& problems);
  // Throws std::runtime_error listing every problem.
  static pricing_table load(const std::filesystem::path& file);
  // The table shipped in etc/pricing.json, built into the binary.
  static pricing_table builtin();
  // The built-in table, overlaid by `file` when there is one (a broken one throws).
  static pricing_table builtin_overlaid_by(const std::filesystem::path& file);

  std::string origin;  // "built-in", or "built-in + FILE"
  std::string as_of;   // the newest of its rows' as_of
};

// "gpt-4o-mini-2024-07-18" → "gpt-4o-mini"; "gpt-4-0613" → "gpt-4"; else unchanged.
std::string model_family(std::string_view model);
// "ft:gpt-4o-mini-2024-07-18:org:suffix:abc123" → "ft:gpt-4o-mini-2024-07-18":
// the name of a fine-tuned model's price row; nullopt for a model not fine-tuned.
std::optional<std::string> fine_tuned_row(std::string_view model);

// {"model", "input", "cached_input", "cache_write", "output", "batch": {…}, "batch_by_rule": […],
//  "above_272k": {…}, "image": {…}, "batch_offered", "shutdown", "replacement", "as_of", "source"}:
// a row as the socket and `batchctl prices` show it (USD per 1M tokens, exact).
nlohmann::json price_json(const std::string& name, const model_price& p);

}  // namespace batchd::ledger
