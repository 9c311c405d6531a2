#include "ledger/pricing.hpp"

#include <algorithm>
#include <array>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace batchd::ledger {
namespace {

using nlohmann::json;

bool all_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// A price as the JSON gives it: a string ("0.075") or a number (read from its
// shortest decimal text, never through arithmetic on the double).
std::optional<picousd> read_price(const json& v) {
  if (v.is_string()) return parse_price_per_million(v.get<std::string>());
  if (v.is_number()) return parse_price_per_million(v.dump());
  return std::nullopt;
}

constexpr std::array rate_keys = {"input", "cached_input", "cache_write", "output"};

template <class Tier>  // tier or const tier
auto& rate_of(Tier& t, std::string_view key) {
  if (key == "input") return t.input;
  if (key == "cached_input") return t.cached_input;
  if (key == "cache_write") return t.cache_write;
  return t.output;
}

// Reads one row's JSON, every problem named with the model and field.
class row_reader {
 public:
  row_reader(const std::string& name, int rule_percent, std::vector<std::string>& problems)
      : name_(name), rule_percent_(rule_percent), problems_(problems) {}

  model_price read(const json& row) {
    model_price p;
    if (!row.is_object()) {
      problem("", "the row must be an object");
      return p;
    }
    p.batch_offered = row.value("batch_offered", true);
    p.text = read_tier(row, "", p.batch_offered);
    if (!p.text.input && !p.free()) problem("input", "is missing");
    for (const char* key : {"above_272k", "image"}) {
      if (!row.contains(key)) continue;
      if (!row[key].is_object()) problem(key, "must be an object of rates");
      else (std::string(key) == "image" ? p.image : p.above_272k) = read_tier(row[key], std::string(key) + ".", p.batch_offered);
    }
    if (row.contains("training")) p.training = price(row["training"], "training");
    for (const char* key : {"shutdown", "replacement", "as_of", "source"})
      if (row.contains(key) && !row[key].is_string()) problem(key, "must be a string");
    p.shutdown = row.value("shutdown", "");
    p.replacement = row.value("replacement", "");
    p.as_of = row.value("as_of", "");
    p.source = row.value("source", "");
    if (!p.shutdown.empty() && !(p.shutdown.size() == 10 && p.shutdown[4] == '-' && p.shutdown[7] == '-'))
      problem("shutdown", "must be a date, YYYY-MM-DD");
    static const std::vector<std::string> known = {"input",      "cached_input", "cache_write",   "output",
                                                   "batch",      "above_272k",   "image",         "training",
                                                   "batch_offered", "shutdown",  "replacement",   "as_of",
                                                   "source",     "notes"};
    for (const auto& [k, _] : row.items())
      if (std::find(known.begin(), known.end(), k) == known.end()) problem(k, "is not a field of a price row");
    return p;
  }

 private:
  void problem(const std::string& field, const std::string& what) {
    problems_.push_back("model " + name_ + ": " + (field.empty() ? "" : "\"" + field + "\" ") + what);
  }

  std::optional<picousd> price(const json& v, const std::string& field) {
    auto p = read_price(v);
    if (!p) problem(field, "must be USD per 1M tokens with at most 6 decimals, such as \"0.075\"");
    return p;
  }

  // The rates of `obj` (regular), each with its batch rate: as `obj.batch`
  // publishes it, else by the table's rule when the model is offered in batch.
  tier read_tier(const json& obj, const std::string& where, bool batch_offered) {
    tier t;
    const json* batch = obj.contains("batch") ? &obj["batch"] : nullptr;
    if (batch && !batch->is_object()) {
      problem(where + "batch", "must be an object of rates");
      batch = nullptr;
    }
    for (const char* key : rate_keys) {
      if (!obj.contains(key) || obj[key].is_null()) continue;
      const auto regular = price(obj[key], where + key);
      if (!regular) continue;
      rate r{*regular, std::nullopt};
      if (batch && batch->contains(key)) r.batch = price((*batch)[key], where + "batch." + key);
      else if (batch_offered) {
        r.batch = by_rule(*regular, where + key);
        r.batch_by_rule = true;
      }
      rate_of(t, key) = r;
    }
    return t;
  }

  std::optional<picousd> by_rule(picousd regular, const std::string& field) {
    if (regular * (100 - rule_percent_) % 100 != 0) {
      problem(field, "at the batch rule is not a whole number of pico-dollars per token; publish its batch price");
      return std::nullopt;
    }
    return regular * (100 - rule_percent_) / 100;
  }

  const std::string& name_;
  int rule_percent_;
  std::vector<std::string>& problems_;
};

bool zero(const std::optional<rate>& r) { return !r || (r->regular == 0 && r->batch.value_or(0) == 0); }
bool zero(const tier& t) { return zero(t.input) && zero(t.cached_input) && zero(t.cache_write) && zero(t.output); }

tokens minus(const tokens& a, const tokens& b) {
  return {a.prompt - b.prompt,        a.cached - b.cached,         a.cache_write - b.cache_write,
          a.image - b.image,          a.completion - b.completion, a.reasoning - b.reasoning};
}

// Adds token classes at their rates, exactly, or notes why it cannot.
struct summer {
  std::optional<std::int64_t> regular = 0, batch = 0;
  std::string unknown;

  void add(std::int64_t n, const std::optional<rate>& r, const std::string& what) {
    if (n == 0 || !unknown.empty()) return;
    if (!r) {
      unknown = "no " + what + " price is published for it";
      return;
    }
    if (!r->batch) {
      unknown = "it has no batch " + what + " price (not offered in batch)";
      return;
    }
    if (regular) regular = checked_mul_add(*regular, n, r->regular);
    if (batch) batch = checked_mul_add(*batch, n, *r->batch);
    if (!regular || !batch) unknown = "the cost passes what an int64 of pico-dollars holds";
  }

  void part(const tokens& t, const tier& rates, const model_price& p) {
    const auto image_in = p.image ? t.image : 0;
    add(t.prompt - t.cached - t.cache_write - image_in, rates.input, "input");
    add(t.cached, rates.cached_input, "cached input");
    add(t.cache_write, rates.cache_write, "cache write");
    if (p.image) {
      add(image_in, p.image->input, "image input");
      add(t.completion, p.image->output ? p.image->output : rates.output, "image output");
    } else {
      add(t.completion, rates.output, "output");
    }
  }
};

}  // namespace

bool model_price::free() const { return zero(text) && (!above_272k || zero(*above_272k)) && (!image || zero(*image)); }

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

std::optional<priced> pricing_table::find(std::string_view model) const {
  auto at = [&](std::string_view name) -> std::optional<priced> {
    if (auto it = models.find(name); it != models.end()) return priced{it->first, &it->second};
    return std::nullopt;
  };
  if (auto exact = at(model)) return exact;
  // A fine-tuned model is looked up under its ft: row, so a miss there is
  // unknown, not the base model's cheaper price.
  const auto ft = fine_tuned_row(model);
  const std::string_view row = ft ? std::string_view(*ft) : model;
  if (ft)
    if (auto found = at(row)) return found;
  return at(model_family(row));
}

costing pricing_table::cost(std::string_view model, const token_usage& u) const {
  const auto found = find(model);
  if (!found) return {std::nullopt, "model " + std::string(model) + " is not in the pricing table"};
  const auto& p = *found->price;
  if (p.free()) return {usage_cost{0, 0, found->row}, ""};
  if (u.without_usage > 0)
    return {std::nullopt, std::to_string(u.without_usage) + " result line(s) of " + std::string(model) +
                              " carried no usage"};
  summer s;
  s.part(minus(u, u.above_272k), p.text, p);
  s.part(u.above_272k, p.above_272k ? *p.above_272k : p.text, p);
  if (!s.unknown.empty()) return {std::nullopt, std::string(model) + " (row " + found->row + "): " + s.unknown};
  return {usage_cost{*s.regular, *s.batch, found->row}, ""};
}

void pricing_table::overlay(const pricing_table& other) {
  for (const auto& [name, row] : other.models) models.insert_or_assign(name, row);
  as_of = std::max(as_of, other.as_of);
}

pricing_table pricing_table::from_json(const json& j, std::vector<std::string>& problems) {
  pricing_table t;
  if (!j.is_object()) {
    problems.push_back("the pricing table must be a JSON object");
    return t;
  }
  // The rule for batch rates a row does not publish ("batch_discount_percent" in tables before 0.2).
  const json* rule = j.contains("batch_rule") ? &j["batch_rule"] : nullptr;
  const json* percent = rule && rule->is_object() && rule->contains("percent") ? &(*rule)["percent"]
                        : j.contains("batch_discount_percent") ? &j["batch_discount_percent"] : nullptr;
  if (percent) {
    if (!percent->is_number_integer() || percent->get<int>() < 0 || percent->get<int>() > 100)
      problems.push_back("the batch rule's percent must be a whole number from 0 to 100");
    else
      t.batch_rule_percent = percent->get<int>();
  }
  if (rule && rule->is_object()) t.batch_rule_source = rule->value("source", "");
  if (!j.contains("models") || !j["models"].is_object()) {
    problems.push_back("the pricing table needs a \"models\" object");
    return t;
  }
  for (const auto& [name, row] : j["models"].items()) {
    auto p = row_reader(name, t.batch_rule_percent, problems).read(row);
    t.as_of = std::max(t.as_of, p.as_of);
    t.models.emplace(name, std::move(p));
  }
  return t;
}

pricing_table pricing_table::load(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read the pricing table " + file.string());
  auto j = json::parse(in, nullptr, false, true);
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
  auto t = from_json(json::parse(builtin_pricing_json(), nullptr, true, true), problems);
  if (!problems.empty()) throw std::logic_error("the built-in pricing table: " + problems.front());
  t.origin = "built-in";
  return t;
}

pricing_table pricing_table::builtin_overlaid_by(const std::filesystem::path& file) {
  auto t = builtin();
  if (!std::filesystem::exists(file)) return t;
  t.overlay(load(file));
  t.origin = "built-in + " + file.string();
  return t;
}

namespace {

json per_million(const std::optional<picousd>& per_token) {
  return per_token ? json(format_usd(*per_token * 1'000'000)) : json(nullptr);
}

json tier_json(const tier& t) {
  json regular = json::object(), batch = json::object(), by_rule = json::array();
  for (const char* key : rate_keys) {
    const auto& r = rate_of(t, key);
    if (!r) continue;
    regular[key] = per_million(r->regular);
    batch[key] = per_million(r->batch);
    if (r->batch_by_rule) by_rule.push_back(key);
  }
  regular["batch"] = batch;
  regular["batch_by_rule"] = by_rule;
  return regular;
}

}  // namespace

json price_json(const std::string& name, const model_price& p) {
  auto j = tier_json(p.text);
  j["model"] = name;
  if (p.above_272k) j["above_272k"] = tier_json(*p.above_272k);
  if (p.image) j["image"] = tier_json(*p.image);
  if (p.training) j["training"] = per_million(*p.training);
  j["batch_offered"] = p.batch_offered;
  j["shutdown"] = p.shutdown.empty() ? json(nullptr) : json(p.shutdown);
  j["replacement"] = p.replacement.empty() ? json(nullptr) : json(p.replacement);
  j["as_of"] = p.as_of;
  j["source"] = p.source;
  return j;
}

}  // namespace batchd::ledger
