#pragma once
// The pricing table (etc/pricing.json): per model, USD per 1M tokens for
// input, cached input, output and training, and the batch discount. Prices
// are held as pico-USD per token (money.hpp), so every cost is exact.
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

struct model_price {
  picousd input = 0, cached_input = 0, output = 0;  // regular price per token
  std::optional<picousd> training;
  std::string as_of, source;  // where the row came from, for people checking it
};

struct usage_cost {
  picousd regular = 0;  // what the same tokens cost outside the Batch API
  picousd batch = 0;    // what the batch booked
};

class pricing_table {
 public:
  int batch_discount_percent = 50;
  std::map<std::string, model_price, std::less<>> models;

  // The row for `model`: its own, else its family's (a dated snapshot such as
  // gpt-4o-mini-2024-07-18 falls back to gpt-4o-mini). A fine-tuned model
  // (ft:<base>:<org>:<suffix>:<id>) has prices of its own: the row
  // ft:<base>, else ft:<base's family> — never the base model's row, whose
  // price is lower. Null when unknown.
  const model_price* find(std::string_view model) const;
  // A regular per-token price at the batch discount (exact: checked at load).
  picousd at_batch(picousd regular) const { return regular * (100 - batch_discount_percent) / 100; }
  // Cached prompt tokens at the cached rate and not again as input. Null
  // when the model is unknown or some lines carried no usage.
  std::optional<usage_cost> cost(std::string_view model, const token_usage& u) const;

  // Problems are full sentences naming the model and field.
  static pricing_table from_json(const nlohmann::json& j, std::vector<std::string>& problems);
  // Throws std::runtime_error listing every problem.
  static pricing_table load(const std::filesystem::path& file);
  // The table shipped in etc/pricing.json, built into the binary.
  static pricing_table builtin();

  std::string origin;  // the file it came from, or "built-in"
  std::string as_of;   // the newest of its rows' as_of
};

// "gpt-4o-mini-2024-07-18" → "gpt-4o-mini"; "gpt-4-0613" → "gpt-4"; else unchanged.
std::string model_family(std::string_view model);
// "ft:gpt-4o-mini-2024-07-18:org:suffix:abc123" → "ft:gpt-4o-mini-2024-07-18":
// the name of a fine-tuned model's price row; nullopt for a model not fine-tuned.
std::optional<std::string> fine_tuned_row(std::string_view model);

}  // namespace batchd::ledger
