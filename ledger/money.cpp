#include "ledger/money.hpp"

#include <algorithm>
#include <limits>

namespace batchd::ledger {

std::optional<std::int64_t> parse_decimal(std::string_view text, int scale) {
  if (text.empty()) return std::nullopt;
  std::int64_t whole = 0, frac = 0;
  int frac_digits = 0;
  bool seen_dot = false, any_digit = false;
  constexpr auto max = std::numeric_limits<std::int64_t>::max();
  for (char ch : text) {
    if (ch == '.' && !seen_dot) {
      seen_dot = true;
      continue;
    }
    if (ch < '0' || ch > '9') return std::nullopt;
    any_digit = true;
    const int d = ch - '0';
    if (!seen_dot) {
      if (whole > (max - d) / 10) return std::nullopt;
      whole = whole * 10 + d;
    } else {
      if (d == 0 && frac_digits >= scale) continue;  // trailing zeros beyond the unit are fine
      if (++frac_digits > scale) return std::nullopt;
      frac = frac * 10 + d;
    }
  }
  if (!any_digit) return std::nullopt;
  std::int64_t unit = 1;
  for (int i = 0; i < scale; ++i) unit *= 10;
  for (int i = frac_digits; i < scale; ++i) frac *= 10;
  if (whole > (max - frac) / unit) return std::nullopt;
  return whole * unit + frac;
}

std::string format_usd(picousd amount) {
  constexpr std::uint64_t per_usd = 1'000'000'000'000;
  const bool negative = amount < 0;
  const std::uint64_t magnitude = negative ? 0 - static_cast<std::uint64_t>(amount) : static_cast<std::uint64_t>(amount);
  std::string frac = std::to_string(magnitude % per_usd);
  frac.insert(0, 12 - frac.size(), '0');
  const auto last = frac.find_last_not_of('0');
  frac.resize(std::max<std::size_t>(2, last == std::string::npos ? 0 : last + 1));
  std::string out = negative ? "-" : "";
  out += std::to_string(magnitude / per_usd);
  out += '.';
  out += frac;
  return out;
}

std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
  return r;
}

std::int64_t saturating_mul(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_mul_overflow(a, b, &r))
    return (a < 0) != (b < 0) ? std::numeric_limits<std::int64_t>::min() : std::numeric_limits<std::int64_t>::max();
  return r;
}

std::optional<std::int64_t> checked_mul_add(std::int64_t sum, std::int64_t a, std::int64_t b) {
  std::int64_t product, r;
  if (__builtin_mul_overflow(a, b, &product) || __builtin_add_overflow(sum, product, &r)) return std::nullopt;
  return r;
}

}  // namespace batchd::ledger
