#include "sim/faults.hpp"

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace batchd::sim {
namespace {

// One table drives both directions, so a new fault is one line here.
template <class F>
void for_each_field(fault_settings& s, F&& f) {
  f("rate_429", s.rate_429);
  f("rate_5xx", s.rate_5xx);
  f("rate_drop", s.rate_drop);
  f("rate_truncate", s.rate_truncate);
  f("rate_slow", s.rate_slow);
  f("next_429", s.next_429);
  f("next_5xx", s.next_5xx);
  f("next_drop", s.next_drop);
  f("next_truncate", s.next_truncate);
  f("slow_ms", s.slow_ms);
  f("retry_after_ms", s.retry_after_ms);
  f("rate_429_create", s.rate_429_create);
  f("next_429_create", s.next_429_create);
  f("rate_503_create", s.rate_503_create);
  f("next_503_create", s.next_503_create);
  f("next_drop_upload", s.next_drop_upload);
  f("next_drop_batch", s.next_drop_batch);
  f("insufficient_quota", s.insufficient_quota);
  f("request_retryable_rate", s.request_retryable_rate);
  f("request_final_rate", s.request_final_rate);
  f("expire_next", s.expire_next);
  f("token_limit_next", s.token_limit_next);
  f("fail_all_next", s.fail_all_next);
  f("output_gone_next", s.output_gone_next);
  f("enqueued_token_limit", s.enqueued_token_limit);
  f("finalizing_stuck_s", s.finalizing_stuck_s);
  f("not_found_s", s.not_found_s);
  f("counts_mismatch", s.counts_mismatch);
  f("cache_hit_rate", s.cache_hit_rate);
  f("usage_extra_input_tokens", s.usage_extra_input_tokens);
  f("usage_absent", s.usage_absent);
  f("list_lag_s", s.list_lag_s);
  f("rate_lost_reply", s.rate_lost_reply);
  f("next_lost_reply", s.next_lost_reply);
  f("lost_reply_delay_ms", s.lost_reply_delay_ms);
  f("download_bytes_per_s", s.download_bytes_per_s);
}

}  // namespace

void to_json(nlohmann::json& j, const fault_settings& f) {
  j = nlohmann::json::object();
  auto copy = f;
  for_each_field(copy, [&](const char* name, auto& v) { j[name] = v; });
}

void merge_faults(fault_settings& f, const nlohmann::json& j) {
  if (!j.is_object()) throw std::invalid_argument("faults must be a JSON object");
  auto next = f;
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for_each_field(next, [&](const char* name, auto& field) {
      if (key != name) return;
      known = true;
      using T = std::decay_t<decltype(field)>;
      if constexpr (std::is_same_v<T, bool>) {
        if (!value.is_boolean()) throw std::invalid_argument(key + " must be a boolean");
      } else if constexpr (std::is_integral_v<T>) {
        if (!value.is_number_integer()) throw std::invalid_argument(key + " must be an integer");
      } else {
        if (!value.is_number()) throw std::invalid_argument(key + " must be a number");
      }
      field = value.get<T>();
    });
    if (!known) throw std::invalid_argument("unknown fault: " + key);
  }
  f = next;
}

bool fault_engine::draw(double p) {
  if (p <= 0) return false;
  return std::uniform_real_distribution<double>(0, 1)(rng_) < p;
}

transport_fault fault_engine::next_transport_fault() {
  auto& s = settings_;
  transport_fault t;
  if (draw(s.rate_slow)) t.delay_ms = s.slow_ms;
  auto counted = [](int& n) { return n > 0 ? (--n, true) : false; };
  if (counted(s.next_drop) || draw(s.rate_drop)) {
    t.what = transport_fault::kind::drop;
  } else if (counted(s.next_429) || draw(s.rate_429)) {
    t.what = transport_fault::kind::status;
    t.status = 429;
  } else if (counted(s.next_5xx) || draw(s.rate_5xx)) {
    static constexpr int codes[] = {500, 502, 503};
    t.what = transport_fault::kind::status;
    t.status = codes[std::uniform_int_distribution<int>(0, 2)(rng_)];
  } else if (counted(s.next_truncate) || draw(s.rate_truncate)) {
    t.what = transport_fault::kind::truncate;
  }
  return t;
}

bool fault_engine::lose_reply() {
  auto& s = settings_;
  if (s.next_lost_reply > 0) {
    --s.next_lost_reply;
    return true;
  }
  return draw(s.rate_lost_reply);
}

int fault_engine::create_refusal(bool upload) {
  auto& s = settings_;
  auto counted = [](int& n) { return n > 0 ? (--n, true) : false; };
  if (counted(upload ? s.next_drop_upload : s.next_drop_batch)) return -1;
  if (counted(s.next_429_create) || draw(s.rate_429_create)) return 429;
  if (counted(s.next_503_create) || draw(s.rate_503_create)) return 503;
  return 0;
}

bool fault_engine::take(int fault_settings::*counter) {
  int& n = settings_.*counter;
  if (n <= 0) return false;
  --n;
  return true;
}

}  // namespace batchd::sim
