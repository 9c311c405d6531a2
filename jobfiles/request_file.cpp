#include "jobfiles/request_file.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <system_error>
#include <unordered_set>

#include "io/atomic_file.hpp"
#include "io/line_reader.hpp"
#include "ledger/money.hpp"
#include "io/range_hasher.hpp"
#include "jobfiles/endpoints.hpp"

namespace batchd::jobfiles {
namespace {

using simdjson::dom::element;

std::int64_t count_inputs(element body) {
  element input;
  if (body["input"].get(input)) return 0;
  if (!input.is_array()) return 1;
  auto arr = input.get_array().value_unsafe();
  const auto n = static_cast<std::int64_t>(arr.size());
  if (n == 0) return 0;
  return (*arr.begin()).is_number() ? 1 : n;  // an array of token ids is one input
}

// The embeddings endpoint's own limits (API-FACTS): at most 2048 inputs, each
// at most 8192 tokens, 300,000 tokens a request. Tokens are estimated at 4
// bytes each, as everywhere in batchd; "" if within them.
std::string check_embedding_input(element body, std::string& hint) {
  element input;
  if (body["input"].get(input) || !input.is_array()) return "";
  auto arr = input.get_array().value_unsafe();
  if (arr.size() > 0 && (*arr.begin()).is_number()) return "";  // one input of token ids
  if (arr.size() > 2048) {
    hint = "split \"body.input\" into requests of at most 2048 inputs each";
    return "\"body.input\" has " + std::to_string(arr.size()) + " inputs; an embeddings request takes at most 2048";
  }
  std::int64_t total = 0, index = 0;
  for (auto item : arr) {
    std::string_view text;
    const auto tokens = item.get(text) ? 0 : static_cast<std::int64_t>(text.size() + 3) / 4;
    if (tokens > 8192) {
      hint = "shorten input " + std::to_string(index) + " or split it; each input may be 8192 tokens";
      return "input " + std::to_string(index) + " of \"body.input\" is about " + std::to_string(tokens) +
             " tokens (at 4 bytes a token), over the 8192 one input may be";
    }
    total += tokens;
    ++index;
  }
  if (total > 300'000) {
    hint = "spread the inputs over more requests; one request may carry 300,000 tokens";
    return "the inputs are about " + std::to_string(total) + " tokens (at 4 bytes a token), over the 300,000 one "
           "embeddings request may carry";
  }
  return "";
}

// Checks one parsed line; "" if good, else the message (and `hint`).
std::string check_line(element doc, request_file_report& r, std::unordered_set<std::string>& ids,
                       std::string& hint, element& body_out) {
  if (!doc.is_object()) {
    hint = "each line must be one JSON object: {\"custom_id\", \"method\", \"url\", \"body\"}";
    return "the line is not a JSON object";
  }
  std::string_view custom_id, method, url, model;
  if (doc["custom_id"].get(custom_id) || custom_id.empty()) {
    hint = "give every line a non-empty string \"custom_id\" to match its result";
    return "\"custom_id\" is missing or not a non-empty string";
  }
  if (std::any_of(custom_id.begin(), custom_id.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
    hint = "use printable characters in \"custom_id\" (batchd keeps the ids one a line)";
    return "\"custom_id\" holds a control character such as a newline";
  }
  if (doc["method"].get(method) || method != "POST") {
    hint = "set \"method\": \"POST\"";
    return "\"method\" must be \"POST\"";
  }
  if (doc["url"].get(url) || !is_batch_endpoint(url)) {
    hint = "use one of " + batch_endpoint_list();
    return "\"url\" is missing or not an endpoint the Batch API serves";
  }
  if (r.endpoint.empty()) r.endpoint = url;
  else if (url != r.endpoint) {
    hint = "a file holds requests for one endpoint; split it into one file per endpoint";
    return "\"url\" is " + std::string(url) + " but earlier lines use " + r.endpoint;
  }
  element body;
  if (doc["body"].get(body) || !body.is_object()) {
    hint = "put the request parameters in a \"body\" object";
    return "\"body\" is missing or not an object";
  }
  if (body["model"].get(model) || model.empty()) {
    hint = "set \"body\": {\"model\": …}";
    return "\"body.model\" is missing or not a string";
  }
  if (r.model.empty()) r.model = model;
  else if (model != r.model) {
    hint = "a batch runs one model; split the file into one file per model";
    return "\"body.model\" is " + std::string(model) + " but earlier lines use " + r.model;
  }
  bool stream = false;
  if (!body["stream"].get(stream) && stream) {
    hint = "remove \"stream\": true; batch requests cannot stream";
    return "\"body.stream\" is true";
  }
  if (auto problem = check_body(url, body, hint); !problem.empty()) return problem;
  if (url == "/v1/embeddings")
    if (auto problem = check_embedding_input(body, hint); !problem.empty()) return problem;
  if (!ids.emplace(custom_id).second) {
    hint = "make every \"custom_id\" unique within the file";
    return "\"custom_id\" \"" + std::string(custom_id) + "\" is used by an earlier line";
  }
  body_out = body;
  return "";
}

}  // namespace

namespace {

// One request file's pass: every line checked, the good ones cut into
// chunks (and their ids written) until the first bad line, after which the
// rest is only checked, so that the report lists every problem.
class request_splitter {
 public:
  request_splitter(const std::filesystem::path& input, const split_options& options)
      : input_(input), options_(options), limits_(options.limits), reader_(input), hasher_(input) {
    current_.path = input;
  }

  request_file_report run() {
    std::string_view line;
    while (reader_.next(line)) {
      const auto start = line_start_;
      line_start_ = reader_.position();
      take(line, start);
    }
    if (r_.requests == 0 && r_.lines_with_errors == 0) fail("the file has no requests", "add at least one line");
    if (r_.lines_with_errors > 0) {
      r_.chunks.clear();
      return std::move(r_);
    }
    if (current_.requests > 0) close_chunk(line_start_);
    const auto hashes = hasher_.finish();
    for (std::size_t i = 0; i < r_.chunks.size(); ++i) r_.chunks[i].sha256 = hashes[i];
    return std::move(r_);
  }

 private:
  void fail(std::string message, std::string hint) {
    ++r_.lines_with_errors;
    if (r_.errors.size() < options_.max_errors)
      r_.errors.push_back({reader_.line_number(), std::move(message), std::move(hint)});
  }

  // One line, from file offset `start` to where the reader stands now.
  void take(std::string_view line, std::uint64_t start) {
    if (line.find_first_not_of(" \t") == std::string_view::npos) {
      fail("the line is empty", "remove blank lines");
      return;
    }
    element doc;
    if (auto err = parser_.parse(line.data(), line.size(), false).get(doc)) {
      fail(std::string("the line is not valid JSON (") + simdjson::error_message(err) + ")",
           "each line must be one complete JSON object; check quotes and escapes");
      return;
    }
    std::string hint;
    element body;
    if (auto message = check_line(doc, r_, ids_, hint, body); !message.empty()) {
      fail(std::move(message), std::move(hint));
      return;
    }
    const auto bytes = static_cast<std::int64_t>(line_start_ - start);
    const auto inputs = r_.endpoint == "/v1/embeddings" ? count_inputs(body) : 0;
    if (bytes > limits_.max_bytes || inputs > limits_.max_embedding_inputs) {
      fail("the request is larger than one batch may be", "make the request smaller");
      return;
    }
    ++r_.requests;
    std::int64_t cap = 0;
    if (!body["max_completion_tokens"].get(cap) || !body["max_tokens"].get(cap) || !body["max_output_tokens"].get(cap))
      r_.output_token_caps = ledger::saturating_add(r_.output_token_caps, cap > 0 ? cap : 0);
    if (r_.lines_with_errors > 0) return;  // keep checking, stop cutting
    std::string_view id;
    if (doc["custom_id"].get(id)) return;  // cannot happen: check_line checked it
    add(start, bytes, inputs, id);
  }

  void add(std::uint64_t start, std::int64_t bytes, std::int64_t inputs, std::string_view id) {
    if (current_.requests > 0 &&
        (current_.requests + 1 > limits_.max_requests || current_.bytes + bytes > limits_.max_bytes ||
         current_.embedding_inputs + inputs > limits_.max_embedding_inputs))
      close_chunk(start);
    ++current_.requests;
    if (!options_.ids_dir.empty()) {
      if (!ids_out_) ids_out_ = std::make_unique<io::atomic_file>(ids_file(r_.chunks.size() + 1));
      ids_out_->line(id);
    }
    current_.bytes += bytes;
    current_.embedding_inputs += inputs;
    current_.estimated_prompt_tokens += (bytes + 3) / 4;  // heuristic: ~4 bytes of JSON a token
    if (current_.requests % 1024 == 0) hasher_.advance(line_start_);
  }

  void close_chunk(std::uint64_t end) {
    hasher_.cut(end);
    if (ids_out_) {
      ids_out_->commit();
      ids_out_.reset();
      current_.ids = ids_file(r_.chunks.size() + 1);
    }
    r_.chunks.push_back(current_);
    current_ = {};
    current_.path = input_;
    current_.offset = end;
  }

  std::filesystem::path ids_file(std::size_t chunk) const {
    return options_.ids_dir / ("chunk-" + std::to_string(chunk) + ".ids");
  }

  const std::filesystem::path input_;
  const split_options& options_;
  const batch_limits& limits_;
  io::line_reader reader_;
  io::range_hasher hasher_;
  simdjson::dom::parser parser_;
  std::unordered_set<std::string> ids_;
  request_file_report r_;
  chunk_file current_;                         // the chunk being filled (requests == 0: none yet)
  std::unique_ptr<io::atomic_file> ids_out_;  // its custom_ids, when asked for
  std::uint64_t line_start_ = 0;
};

}  // namespace

request_file_report split_request_file(const std::filesystem::path& input, const split_options& options) {
  return request_splitter(input, options).run();
}

}  // namespace batchd::jobfiles
