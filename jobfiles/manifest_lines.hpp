#pragma once
// The pieces manifest assembly writes its request lines with: JSON string
// escaping, a buffered writer, the chunk cutter, and the body template cut
// at its {{placeholders}}.
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <unistd.h>
#include <vector>

#include "io/hashing_writer.hpp"
#include "jobfiles/limits.hpp"
#include "jobfiles/request_file.hpp"

namespace batchd::jobfiles {

// Appends `s` as JSON string content (no quotes).
void escape_into(std::string& out, std::string_view s);
// At most `bytes` of `s`, never cutting a UTF-8 character in two.
std::string_view utf8_prefix(std::string_view s, std::size_t bytes);

// A max_tokens-style cap the template sets to a number, if any.
std::int64_t literal_output_cap(const nlohmann::json& body);

// The body template as text, cut at its {{placeholders}}. A placeholder that
// is a whole JSON string ("{{n}}") takes the field's JSON value; inside a
// longer string it takes the value as text.
struct template_part {
  std::string literal;  // text before the placeholder
  std::string field;    // empty for the tail
  bool whole = false;
};

std::vector<template_part> compile(const std::string& body);

// Buffered output that fails loudly.
class writer {
 public:
  explicit writer(const std::filesystem::path& p) : f_(std::fopen(p.c_str(), "wb")), path_(p) {
    if (!f_) throw std::system_error(errno, std::generic_category(), "create " + p.string());
    buf_.reserve(1 << 20);
  }
  ~writer() {
    if (f_) std::fclose(f_);
  }
  std::string& buf() { return buf_; }
  void maybe_flush() {
    if (buf_.size() >= (1 << 20)) flush();
  }
  void close() {
    flush();
    const bool synced = std::fflush(f_) == 0 && ::fsync(fileno(f_)) == 0;
    const bool closed = std::fclose(f_) == 0;
    f_ = nullptr;
    if (!synced || !closed) throw std::system_error(errno, std::generic_category(), "close " + path_.string());
  }

 private:
  void flush() {
    if (!buf_.empty() && std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size())
      throw std::system_error(errno, std::generic_category(), "write " + path_.string());
    buf_.clear();
  }
  std::FILE* f_;
  std::filesystem::path path_;
  std::string buf_;
};

// Cuts the request file into chunks as lines are written, by the rules of
// split_request_file. The writer hashes the chunks.
class chunk_cutter {
 public:
  chunk_cutter(std::filesystem::path path, const batch_limits& limits, io::hashing_writer& out)
      : path_(std::move(path)), limits_(limits), out_(out) {}

  // A line of `bytes` bytes (its newline included) starts at file offset `start`.
  void add(std::uint64_t start, std::int64_t bytes, std::int64_t inputs) {
    if (current_.requests > 0 &&
        (current_.requests + 1 > limits_.max_requests || current_.bytes + bytes > limits_.max_bytes ||
         current_.embedding_inputs + inputs > limits_.max_embedding_inputs)) {
      chunks_.push_back(current_);
      current_ = {};
      out_.cut(start);
    }
    if (current_.requests == 0) {
      current_.path = path_;
      current_.offset = start;
    }
    ++current_.requests;
    current_.bytes += bytes;
    current_.embedding_inputs += inputs;
    current_.estimated_prompt_tokens += (bytes + 3) / 4;  // the same heuristic as dropped files
  }
  // After the writer's finish(): the chunks with their hashes.
  std::vector<chunk_file> finish(const std::vector<std::string>& hashes) {
    if (current_.requests > 0) chunks_.push_back(current_);
    if (hashes.size() != chunks_.size()) throw std::logic_error("chunk hashes do not match the chunks");
    for (std::size_t i = 0; i < chunks_.size(); ++i) chunks_[i].sha256 = hashes[i];
    return std::move(chunks_);
  }

 private:
  std::filesystem::path path_;
  batch_limits limits_;
  io::hashing_writer& out_;
  chunk_file current_;
  std::vector<chunk_file> chunks_;
};

}  // namespace batchd::jobfiles
