#include "ledger/pricing.hpp"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace batchd::ledger {
namespace {

bool all_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// A price as the JSON gives it: a string ("0.075") or a number (read from its
// shortest decimal text, never through arithmetic on the double).
std::optional<picousd> read_price(const nlohmann::json& v) {
  if (v.is_string()) return parse_price_per_million(v.get<std::string>());
  if (v.is_number()) return parse_price_per_million(v.dump());
  return std::nullopt;
}

}  // namespace

std::string model_family(std::string_view model) {
  // -YYYY-MM-DD
  if (model.size() > 11 && model[model.size() - 11] == '-' && model[model.size() - 6] == '-' &&
      model[model.size() - 3] == '-' && all_digits(model.substr(model.size() - 10, 4)) &&
      all_digits(model.substr(model.size() - 5, 2)) && all_digits(model.substr(model.size() - 2)))
    return std::string(model.substr(0, model.size() - 11));
  // -MMDD
  if (model.size() > 5 && model[model.size() - 5] == '-' && all_digits(model.substr(model.size() - 4)))
    return std::string(model.substr(0, model.size() - 5));
  return std::string(model);
}

std::optional<std::string> fine_tuned_row(std::string_view model) {
  constexpr std::string_view prefix = "ft:";
  if (!model.starts_with(prefix)) return std::nullopt;
  const auto base = model.substr(prefix.size(), model.find(':', prefix.size()) - prefix.size());
  return std::string(prefix) + std::string(base);
}

const model_price* pricing_table::find(std::string_view model) const {
  if (auto it = models.find(model); it != models.end()) return &it->second;
  // A fine-tuned model is looked up under its ft: row, so a miss there is
  // unknown, not the base model's cheaper price.
  const auto ft = fine_tuned_row(model);
  const std::string_view row = ft ? std::string_view(*ft) : model;
  if (auto it = models.find(row); ft && it != models.end()) return &it->second;
  if (auto it = models.find(model_family(row)); it != models.end()) return &it->second;
  return nullptr;
}

std::optional<usage_cost> pricing_table::cost(std::string_view model, const token_usage& u) const {
  const auto* p = find(model);
  if (!p || u.without_usage > 0) return std::nullopt;
  const auto uncached = u.prompt - u.cached;
  // Exact or unknown: past int64 (about $9.2 million in one booking) it is not booked as a number.
  std::optional<std::int64_t> regular = 0, batch = 0;
  for (const auto& [tokens, price] : {std::pair{uncached, p->input}, {u.cached, p->cached_input}, {u.completion, p->output}}) {
    if (regular) regular = checked_mul_add(*regular, tokens, price);
    if (batch) batch = checked_mul_add(*batch, tokens, at_batch(price));
  }
  if (!regular || !batch) return std::nullopt;
  return usage_cost{*regular, *batch};
}

pricing_table pricing_table::from_json(const nlohmann::json& j, std::vector<std::string>& problems) {
  pricing_table t;
  if (!j.is_object()) {
    problems.push_back("the pricing table must be a JSON object");
    return t;
  }
  if (j.contains("batch_discount_percent")) {
    const auto& d = j["batch_discount_percent"];
    if (!d.is_number_integer() || d.get<int>() < 0 || d.get<int>() > 100)
      problems.push_back("batch_discount_percent must be a whole number from 0 to 100");
    else
      t.batch_discount_percent = d.get<int>();
  }
  if (!j.contains("models") || !j["models"].is_object()) {
    problems.push_back("the pricing table needs a \"models\" object");
    return t;
  }
  for (const auto& [name, row] : j["models"].items()) {
    model_price p;
    auto field = [&](const char* key, picousd& out, bool required) {
      if (!row.contains(key) || row[key].is_null()) {
        if (required) problems.push_back("model " + name + ": \"" + key + "\" is missing");
        return false;
      }
      auto v = read_price(row[key]);
      if (!v) {
        problems.push_back("model " + name + ": \"" + key +
                           "\" must be USD per 1M tokens with at most 6 decimals, such as \"0.075\"");
        return false;
      }
      if (*v * (100 - t.batch_discount_percent) % 100 != 0)
        problems.push_back("model " + name + ": \"" + key + "\" at the batch discount is not a whole number of pico-dollars per token");
      out = *v;
      return true;
    };
    if (!row.is_object()) {
      problems.push_back("model " + name + ": the row must be an object");
      continue;
    }
    field("input", p.input, true);
    if (!field("cached_input", p.cached_input, false)) p.cached_input = p.input;  // no cache discount known
    field("output", p.output, false);
    picousd training = 0;
    if (field("training", training, false)) p.training = training;
    p.as_of = row.value("as_of", "");
    p.source = row.value("source", "");
    t.as_of = std::max(t.as_of, p.as_of);
    for (const auto& [k, _] : row.items())
      if (k != "input" && k != "cached_input" && k != "output" && k != "training" && k != "as_of" && k != "source")
        problems.push_back("model " + name + ": unknown field \"" + k + "\"");
    t.models.emplace(name, p);
  }
  return t;
}

pricing_table pricing_table::load(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read the pricing table " + file.string());
  auto j = nlohmann::json::parse(in, nullptr, false, true);
  if (j.is_discarded()) throw std::runtime_error("the pricing table " + file.string() + " is not valid JSON");
  std::vector<std::string> problems;
  auto t = from_json(j, problems);
  t.origin = file.string();
  if (!problems.empty()) {
    std::string all;
    for (const auto& p : problems) all += (all.empty() ? "" : "; ") + p;
    throw std::runtime_error("the pricing table " + file.string() + ": " + all);
  }
  return t;
}

const char* builtin_pricing_json();  // builtin_pricing.cpp, made from etc/pricing.json

pricing_table pricing_table::builtin() {
  std::vector<std::string> problems;
  auto t = from_json(nlohmann::json::parse(builtin_pricing_json(), nullptr, true, true), problems);
  if (!problems.empty()) throw std::logic_error("the built-in pricing table: " + problems.front());
  t.origin = "built-in";
  return t;
}

}  // namespace batchd::ledger
