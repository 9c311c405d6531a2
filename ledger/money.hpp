#pragma once
// Money, exactly: integer pico-dollars (1e-12 USD) end to end, never floating
// point. A price in USD per 1M tokens with up to 6 decimals ($0.075/1M) is a
// whole number of pico-dollars per token (75,000), so cost = tokens × price
// is exact. int64 holds up to about $9.2 million. Nothing is rounded, not
// even for display: a USD string is the exact amount, so the strings of a
// booking add up (saved = regular - batch) as the integers do.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace batchd::ledger {

using picousd = std::int64_t;

// "12.5" → 12.5 × 10^scale, exactly; nullopt if not a plain non-negative
// decimal, if it has more than `scale` decimals, or if it would overflow.
std::optional<std::int64_t> parse_decimal(std::string_view text, int scale);

// A price per 1M tokens ("0.075") → pico-USD per token (75000).
inline std::optional<picousd> parse_price_per_million(std::string_view usd) { return parse_decimal(usd, 6); }
// An amount ("12.50") → pico-USD.
inline std::optional<picousd> parse_usd(std::string_view usd) { return parse_decimal(usd, 12); }

// pico-USD → USD exactly, trailing zeros trimmed but at least cents:
// 57,075,000 → "0.000057075", 12,500,000,000,000 → "12.50", 0 → "0.00".
std::string format_usd(picousd amount);

// For estimates built from what users write (max_tokens): past int64 they
// stick at the largest value, so "too much" never wraps into "cheap".
std::int64_t saturating_add(std::int64_t a, std::int64_t b);
std::int64_t saturating_mul(std::int64_t a, std::int64_t b);
// For bookings, which must be exact or unknown: nullopt on overflow.
std::optional<std::int64_t> checked_mul_add(std::int64_t sum, std::int64_t a, std::int64_t b);

}  // namespace batchd::ledger
