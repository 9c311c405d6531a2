#include "ledger/ledger.hpp"

#include <spdlog/spdlog.h>

#include <limits>

#include "ledger/reconciliation.hpp"

namespace batchd::ledger {
using nlohmann::json;

std::vector<store::ledger_entry> bookings_for(const store::job_row& job, const store::chunk_row& chunk,
                                             const std::map<std::string, token_usage>& usage,
                                             const pricing_table& prices) {
  // A response without a model name is booked under the job's model (one
  // booking per model: the ledger takes one per chunk and model).
  std::map<std::string, token_usage> by_model;
  for (const auto& [model, u] : usage) by_model[model.empty() ? job.model.value_or("") : model] += u;
  std::vector<store::ledger_entry> out;
  for (const auto& [model, u] : by_model) {
    store::ledger_entry e;
    e.job_id = job.id;
    e.chunk_id = chunk.id;
    e.model = model;
    e.requests = u.requests;
    e.prompt_tokens = u.prompt;
    e.cached_tokens = u.cached;
    e.completion_tokens = u.completion;
    e.reasoning_tokens = u.reasoning;
    e.cache_write_tokens = u.cache_write;
    e.image_tokens = u.image;
    const auto c = prices.cost(e.model, u);
    if (c.cost) {
      e.batch_cost = c.cost->batch;
      e.regular_cost = c.cost->regular;
      e.priced_as = c.cost->row;
    } else {
      spdlog::warn("job {}: {}: {} request(s) booked with unknown cost", job.name, c.unknown_because, u.requests);
    }
    out.push_back(std::move(e));
  }
  return out;
}

json money_json(const store::ledger_sum& s) {
  const bool known = s.priced_requests > 0 || s.unpriced_requests == 0;
  auto usd = [&](picousd v) { return known ? json(format_usd(v)) : json(nullptr); };
  return {{"requests", s.requests},
          {"prompt_tokens", s.prompt_tokens},
          {"cached_tokens", s.cached_tokens},
          {"completion_tokens", s.completion_tokens},
          {"reasoning_tokens", s.reasoning_tokens},  // of the completion tokens
          {"cache_write_tokens", s.cache_write_tokens},
          {"image_tokens", s.image_tokens},
          {"batch_usd", usd(s.batch_cost)},
          {"regular_usd", usd(s.regular_cost)},
          {"saved_usd", usd(s.regular_cost - s.batch_cost)},
          // Exact figures for scripts that add up: integer pico-dollars (1e-12 USD).
          {"batch_pusd", known ? json(s.batch_cost) : json(nullptr)},
          {"regular_pusd", known ? json(s.regular_cost) : json(nullptr)},
          {"unpriced_requests", s.unpriced_requests}};
}

cost_estimate estimate(const store::job_row& job, const pricing_table& prices) {
  cost_estimate e;
  e.input_tokens = job.est_input_tokens;
  e.output_tokens = job.est_output_tokens;
  const auto model = job.model.value_or("?");
  const auto found = prices.find(model);
  if (!found) {
    e.unknown_because = "model " + model + " is not in the pricing table";
    return e;
  }
  const auto& p = *found->price;
  if (p.free()) {
    e.regular = e.batch = 0;
    return e;
  }
  const auto& in = p.text.input;
  const auto& out = p.image && p.image->output ? p.image->output : p.text.output;
  if (!in || !in->batch || (e.output_tokens > 0 && (!out || !out->batch))) {
    e.unknown_because = "model " + model + " (row " + found->row + ") has no published batch price";
    return e;
  }
  // Saturating: an absurd max_tokens must read as "too much", never wrap to a small number.
  const auto at = [&](bool batch) {
    const auto output = e.output_tokens > 0 ? saturating_mul(e.output_tokens, batch ? *out->batch : out->regular) : 0;
    return saturating_add(saturating_mul(e.input_tokens, batch ? *in->batch : in->regular), output);
  };
  e.regular = at(false);
  e.batch = at(true);
  return e;
}

std::optional<std::string> hold_reason(const store::job_row& job, const cost_estimate& e, const budget& b,
                                       picousd committed, const std::string& today) {
  if (job.released) return std::nullopt;
  const bool limited = job.max_cost || b.daily;
  if (!limited) return std::nullopt;
  if (!e.batch)
    return "the cost cannot be estimated: " + e.unknown_because +
           ", and a cost limit applies; add a row for it to the pricing file (and send SIGHUP) or release the job";
  if (job.max_cost && *e.batch > *job.max_cost)
    return "estimated $" + format_usd(*e.batch) + " at the batch price is over the job's max_cost_usd $" +
           format_usd(*job.max_cost) + "; raise the limit or release the job";
  if (b.daily && saturating_add(committed, *e.batch) > *b.daily)
    return "estimated $" + format_usd(*e.batch) + " would bring the spend of " + today + " (UTC) to $" +
           format_usd(saturating_add(committed, *e.batch)) + ", over the daily budget $" + format_usd(*b.daily) +
           "; it is sent when the budget allows, or when released";
  return std::nullopt;
}

picousd committed_today(store::database& db, const pricing_table& prices, const std::string& today) {
  store::ledger_query q;
  q.by = "all";
  q.since = today;
  picousd total = 0;
  for (const auto& s : db.ledger(q)) total += s.batch_cost;
  // Jobs sent and not yet booked in full count with the rest of their estimate.
  const auto running = db.jobs_newest_first(std::numeric_limits<std::int64_t>::max(), 0, {"running", "merged"});
  if (running.empty()) return total;
  std::map<std::string, picousd> booked;  // by job name, all days
  for (const auto& s : db.ledger({"job", std::nullopt, std::nullopt, std::nullopt})) booked[s.key] = s.batch_cost;
  for (const auto& job : running) {
    const auto e = estimate(job, prices);
    if (e.batch && *e.batch > booked[job.name]) total = saturating_add(total, *e.batch - booked[job.name]);
  }
  return total;
}

json job_money(store::database& db, const store::job_row& job, const pricing_table& prices) {
  json out = json::object();
  const auto models = db.ledger({"model", std::nullopt, std::nullopt, job.id});
  if (models.empty()) {
    out["cost"] = nullptr;
  } else {
    store::ledger_sum total;
    json by_model = json::array();
    for (const auto& s : models) {
      total += s;
      auto m = money_json(s);
      m["model"] = s.key;
      m["priced_as"] = s.priced_as.empty() ? json(nullptr) : json(s.priced_as);  // the table row used
      by_model.push_back(m);
    }
    out["cost"] = money_json(total);
    out["cost"]["by_model"] = by_model;
  }
  if (job.total > 0) {
    const auto e = estimate(job, prices);
    out["estimate"] = {{"input_tokens", e.input_tokens},
                       {"output_tokens", e.output_tokens},
                       {"batch_usd", e.batch ? json(format_usd(*e.batch)) : json(nullptr)},
                       {"regular_usd", e.regular ? json(format_usd(*e.regular)) : json(nullptr)}};
  } else {
    out["estimate"] = nullptr;
  }
  out["max_cost_usd"] = job.max_cost ? json(format_usd(*job.max_cost)) : json(nullptr);
  out["usage_mismatches"] = usage_mismatches(db, job);
  return out;
}

}  // namespace batchd::ledger
