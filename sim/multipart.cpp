#include "sim/multipart.hpp"

#include <algorithm>
#include <cctype>

namespace batchd::sim {
namespace {

constexpr std::size_t max_header_bytes = 16 * 1024;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The value of `key=` in a header's parameters (quoted or bare).
std::optional<std::string> header_param(std::string_view header, std::string_view key) {
  std::size_t pos = 0;
  while (pos < header.size()) {
    auto semi = header.find(';', pos);
    if (semi == std::string_view::npos) return std::nullopt;
    pos = semi + 1;
    auto rest = trim(header.substr(pos));
    auto eq = rest.find('=');
    if (eq == std::string_view::npos) continue;
    if (lower(trim(rest.substr(0, eq))) != key) continue;
    auto value = rest.substr(eq + 1);
    if (!value.empty() && value.front() == '"') {
      std::string out;
      for (std::size_t i = 1; i < value.size(); ++i) {
        if (value[i] == '\\' && i + 1 < value.size()) out += value[++i];
        else if (value[i] == '"') return out;
        else out += value[i];
      }
      return std::nullopt;  // unterminated quote
    }
    auto end = value.find(';');
    return std::string(trim(value.substr(0, end)));
  }
  return std::nullopt;
}

part_info parse_part_headers(std::string_view block) {
  part_info part;
  bool has_disposition = false;
  while (!block.empty()) {
    auto eol = block.find("\r\n");
    auto line = block.substr(0, eol);
    block = eol == std::string_view::npos ? std::string_view{} : block.substr(eol + 2);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) throw multipart_error("malformed part header");
    auto name = lower(trim(line.substr(0, colon)));
    auto value = trim(line.substr(colon + 1));
    if (name == "content-disposition") {
      if (lower(value.substr(0, 9)) != "form-data") throw multipart_error("part is not form-data");
      auto n = header_param(value, "name");
      if (!n) throw multipart_error("part has no name");
      part.name = *n;
      part.filename = header_param(value, "filename");
      has_disposition = true;
    } else if (name == "content-type") {
      part.content_type = std::string(value);
    }
  }
  if (!has_disposition) throw multipart_error("part has no Content-Disposition");
  return part;
}

}  // namespace

std::optional<std::string> multipart_boundary(std::string_view content_type) {
  auto semi = content_type.find(';');
  if (lower(trim(content_type.substr(0, semi))) != "multipart/form-data") return std::nullopt;
  auto b = header_param(content_type, "boundary");
  if (!b || b->empty() || b->size() > 70) return std::nullopt;
  return b;
}

multipart_parser::multipart_parser(std::string_view boundary, part_handler& handler)
    : delimiter_("\r\n--" + std::string(boundary)), handler_(handler) {
  // The first boundary may open the body without a preceding CRLF.
  pending_ = "\r\n";
}

void multipart_parser::feed(std::string_view bytes) {
  if (state_ == state::done) return;  // the epilogue is ignored
  pending_.append(bytes);
  run();
}

void multipart_parser::finish() {
  if (state_ != state::done) throw multipart_error("body ended before the closing boundary");
}

void multipart_parser::emit_body_up_to(std::size_t n) {
  if (n == 0) return;
  if (state_ == state::body) handler_.part_data(std::string_view(pending_).substr(0, n));
  pending_.erase(0, n);
  scan_from_ = 0;
}

void multipart_parser::run() {
  for (;;) {
    switch (state_) {
      case state::preamble:
      case state::body: {
        auto at = pending_.find(delimiter_, scan_from_);
        if (at == std::string::npos) {
          // Keep what could be the start of a delimiter split across reads.
          const std::size_t keep = std::min(pending_.size(), delimiter_.size() - 1);
          emit_body_up_to(pending_.size() - keep);
          scan_from_ = 0;
          return;
        }
        emit_body_up_to(at);
        pending_.erase(0, delimiter_.size());
        if (state_ == state::body) handler_.end_part();
        state_ = state::after_boundary;
        break;
      }
      case state::after_boundary: {
        if (pending_.size() < 2) return;
        if (pending_.compare(0, 2, "--") == 0) {
          state_ = state::done;
          pending_.clear();
          return;
        }
        // Transport padding (spaces/tabs) may precede the CRLF.
        auto eol = pending_.find("\r\n");
        if (eol == std::string::npos) {
          if (pending_.size() > 256) throw multipart_error("garbage after boundary");
          return;
        }
        if (!trim(std::string_view(pending_).substr(0, eol)).empty())
          throw multipart_error("garbage after boundary");
        pending_.erase(0, eol + 2);
        state_ = state::headers;
        break;
      }
      case state::headers: {
        auto end = pending_.find("\r\n\r\n");
        if (end == std::string::npos) {
          if (pending_.size() > max_header_bytes) throw multipart_error("part headers too large");
          return;
        }
        handler_.begin_part(parse_part_headers(std::string_view(pending_).substr(0, end)));
        pending_.erase(0, end + 4);
        scan_from_ = 0;
        state_ = state::body;
        break;
      }
      case state::done:
        return;
    }
  }
}

}  // namespace batchd::sim
