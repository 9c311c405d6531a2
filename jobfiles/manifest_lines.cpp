#include "jobfiles/manifest_lines.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace batchd::jobfiles {
using nlohmann::json;

// Text with nothing to escape, the usual case, is checked 16 bytes at a
// time (SSE2, part of x86-64) and copied in runs.
std::string_view utf8_prefix(std::string_view s, std::size_t bytes) {
  if (s.size() <= bytes) return s;
  while (bytes > 0 && (static_cast<unsigned char>(s[bytes]) & 0xC0) == 0x80) --bytes;  // a continuation byte
  return s.substr(0, bytes);
}

void escape_into(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::size_t run = 0, i = 0;
  const auto n = s.size();
  for (;;) {
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), slash = _mm_set1_epi8('\\'), top = _mm_set1_epi8(0x1f);
    while (i + 16 <= n) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
      const __m128i control = _mm_cmpeq_epi8(_mm_max_epu8(v, top), top);  // v <= 0x1f
      const int mask = _mm_movemask_epi8(
          _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, slash)), control));
      if (mask != 0) {
        i += static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
        break;
      }
      i += 16;
    }
#endif
    // Byte by byte: the tail, or from the first byte that needs escaping.
    while (i < n) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c >= 0x20 && c != '"' && c != '\\') {
        ++i;
        continue;
      }
      break;
    }
    if (i >= n) break;
    const auto c = static_cast<unsigned char>(s[i]);
    out.append(s.data() + run, i - run);
    run = ++i;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
    }
  }
  out.append(s.data() + run, n - run);
}

// A max_tokens-style cap the template sets to a number, if any.
std::int64_t literal_output_cap(const json& body) {
  for (const char* k : {"max_completion_tokens", "max_tokens", "max_output_tokens"})
    if (body.contains(k) && body[k].is_number_integer()) return body[k].get<std::int64_t>();
  return 0;
}

std::vector<template_part> compile(const std::string& body) {
  std::vector<template_part> parts;
  std::size_t at = 0;
  for (;;) {
    const auto open = body.find("{{", at);
    const auto close = open == std::string::npos ? std::string::npos : body.find("}}", open + 2);
    if (close == std::string::npos) {
      parts.push_back({body.substr(at), "", false});
      return parts;
    }
    template_part p;
    p.field = body.substr(open + 2, close - open - 2);
    p.whole = open > 0 && body[open - 1] == '"' && close + 2 < body.size() && body[close + 2] == '"';
    p.literal = body.substr(at, p.whole ? open - 1 - at : open - at);
    parts.push_back(std::move(p));
    at = p.whole ? close + 3 : close + 2;
  }
}

}  // namespace batchd::jobfiles
