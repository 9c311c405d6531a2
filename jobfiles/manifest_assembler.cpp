#include "jobfiles/manifest_assembler.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "jobfiles/endpoints.hpp"
#include "ledger/money.hpp"

namespace batchd::jobfiles {
using nlohmann::json;

manifest_assembler::manifest_assembler(const manifest& m, const std::filesystem::path& requests,
                                       const std::filesystem::path& ids, const std::filesystem::path& texts,
                                       const batch_limits& limits, std::size_t max_problems)
    : m_(m), limits_(limits), max_problems_(max_problems), out_(requests), ids_(ids),
      cutter_(requests, limits, out_), output_cap_(literal_output_cap(m.body)), packed_inputs_(m.packed_inputs()) {
  if (!texts.empty()) texts_.emplace(texts);
  json body = m.body;
  body["model"] = m.model;
  if (m.asks_base64()) body["encoding_format"] = "base64";
  const auto body_text = body.dump();
  parts_ = compile(body_text);
  line_head_ = "{\"custom_id\":\"";
  line_mid_ = "\",\"method\":\"POST\",\"url\":\"" + m.endpoint + "\",\"body\":";
  // Packed embeddings: the template, then "input":[…].
  pack_body_head_ = body_text.substr(0, body_text.size() - 1) + (body.size() > 0 ? "," : "") + "\"input\":[";
  if (m.packs() && parts_.size() > 1)
    body_problem("the body template of an embeddings manifest has a {{placeholder}}; the inputs are the texts to embed",
                 "remove the placeholders; for object inputs name the text's field in \"input_field\"");
  if (!m.packs() && parts_.size() == 1)
    body_problem("the body template uses no input: every request would be the same",
                 "put {{input}} (text inputs) or {{field}} (object inputs) where each input goes, e.g. in a message's content");
}

void manifest_assembler::problem(std::int64_t line, std::string message, std::string hint) {
  ++r_.problem_lines;
  if (r_.problems.size() < max_problems_)
    r_.problems.push_back({m_.inputs_file.empty() ? "inputs" : "inputs_file", line, std::move(message), std::move(hint)});
}

void manifest_assembler::body_problem(std::string message, std::string hint) {
  ++r_.problem_lines;
  if (r_.problems.size() < max_problems_) r_.problems.push_back({"body", 0, std::move(message), std::move(hint)});
}

void manifest_assembler::take(const input_item& in) {
  const auto index = r_.inputs++;  // 0-based input index
  if (!custom_id_of(in, index)) return;
  if (m_.packs()) pack(in, index);
  else fill(in);
}

assembly_report manifest_assembler::finish() {
  close_pack();
  if (r_.inputs == 0 && r_.problem_lines == 0) problem(0, "there are no inputs", "add at least one");
  ids_.close();
  if (texts_) texts_->close();
  r_.chunks = cutter_.finish(out_.finish());
  return std::move(r_);
}

bool manifest_assembler::custom_id_of(const input_item& in, std::int64_t index) {
  if (m_.id_field.empty()) {
    id_ = m_.id_prefix;
    id_ += std::to_string(index + 1);
    return true;
  }
  if (in.is_text || !in.field(m_.id_field, value_)) {
    problem(in.line, "the input has no \"" + m_.id_field + "\" field for its custom_id", "add it, or use a custom_id prefix");
    return false;
  }
  simdjson::dom::element v;
  std::string_view s;
  if (!value_parser_.parse(value_).get(v) && !v.get(s)) id_ = s;
  else id_ = value_;  // a number: its JSON text
  if (id_.empty()) {
    problem(in.line, "the custom_id field \"" + m_.id_field + "\" is empty", "give every input an id");
    return false;
  }
  if (std::any_of(id_.begin(), id_.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
    problem(in.line, "custom_id \"" + m_.id_field + "\" holds a control character (a newline, a tab…)",
            "use ids of printable characters");
    return false;
  }
  if (!seen_ids_.insert(id_).second) {
    problem(in.line, "custom_id \"" + id_ + "\" is used by an earlier input", "make the ids unique");
    return false;
  }
  return true;
}

bool manifest_assembler::text_to_embed(const input_item& in, std::string_view& text) {
  text = in.text;
  if (!in.is_text) {
    if (!in.field(m_.input_field, value_)) {
      problem(in.line, "the input has no \"" + m_.input_field + "\" field (the text to embed)",
              "add it, or name the text's field in \"input_field\"");
      return false;
    }
    simdjson::dom::element v;
    std::string_view s;
    if (value_parser_.parse(value_).get(v) || v.get(s)) {
      problem(in.line, "\"" + m_.input_field + "\" is not a string", "the text to embed must be a string");
      return false;
    }
    value_.assign(s);
    text = value_;
  }
  if (texts_) {
    auto& t = texts_->buf();
    t += '"';
    escape_into(t, utf8_prefix(text, row_text_bytes));
    t += "\"\n";
    texts_->maybe_flush();
  }
  if (text.empty()) {
    problem(in.line, "the input is empty; the API refuses empty embedding inputs", "remove the line or give it text");
    return false;
  }
  const auto bytes = static_cast<std::int64_t>(text.size());
  const auto tokens = (bytes + 3) / 4;  // the heuristic the estimate uses: ~4 bytes a token
  if (tokens > max_tokens_per_embedding_input) {
    problem(in.line,
            "the input is about " + std::to_string(tokens) + " tokens (" + std::to_string(bytes) +
                " bytes / 4), over the limit of " + std::to_string(max_tokens_per_embedding_input) +
                " for one embedding input",
            "split the text into smaller pieces");
    return false;
  }
  return true;
}

std::int64_t manifest_assembler::pack_line_bytes(std::size_t content) const {
  return static_cast<std::int64_t>(line_head_.size() + line_mid_.size() + pack_body_head_.size() + content + 64);
}

void manifest_assembler::pack(const input_item& in, std::int64_t index) {
  std::string_view text;
  if (!text_to_embed(in, text)) return;
  const auto bytes = static_cast<std::int64_t>(text.size());
  // A token is at least one byte, so bytes bound the request's tokens. An
  // input that might pass the per-input limit goes alone: if the API
  // refuses it, it takes no other input with it.
  const bool alone = bytes > max_tokens_per_embedding_input;
  piece_.clear();
  piece_ += '"';
  escape_into(piece_, text);
  piece_ += '"';
  if (pack_line_bytes(piece_.size()) > limits_.max_bytes) {
    problem(in.line, "the input is larger than one batch may be", "make it smaller");
    return;
  }
  if (pack_count_ == packed_inputs_ || pack_bytes_ + bytes > max_tokens_per_embedding_request ||
      batch_inputs_ == limits_.max_embedding_inputs ||
      pack_line_bytes(pack_.size() + 1 + piece_.size()) > limits_.max_bytes || alone)
    close_pack();
  if (batch_inputs_ == limits_.max_embedding_inputs) batch_inputs_ = 0;
  if (pack_count_ == 0) pack_first_ = index;
  if (pack_count_ > 0) pack_ += ',';
  pack_ += piece_;
  ++pack_count_;
  ++batch_inputs_;
  pack_bytes_ += bytes;
  if (alone) close_pack();
  ids_.buf() += id_;
  ids_.buf() += '\n';
  ids_.maybe_flush();
}

void manifest_assembler::close_pack() {
  if (pack_count_ == 0) return;
  auto& b = out_.buf();
  const auto from = b.size();
  b += line_head_;
  b += pack_id(pack_first_, pack_count_);
  b += line_mid_;
  b += pack_body_head_;
  b += pack_;
  b += "]}}";
  finish_line(from, pack_count_);  // sized to fit a batch when the inputs were added
  pack_.clear();
  pack_count_ = 0;
  pack_bytes_ = 0;
}

bool manifest_assembler::finish_line(std::size_t from, std::int64_t inputs) {
  auto& b = out_.buf();
  b += '\n';
  const std::string_view line(b.data() + from, b.size() - from);
  if (static_cast<std::int64_t>(line.size()) > limits_.max_bytes) {
    b.resize(from);
    return false;
  }
  cutter_.add(out_.written() - line.size(), static_cast<std::int64_t>(line.size()), inputs);
  ++r_.requests;
  out_.maybe_send();
  return true;
}

void manifest_assembler::fill(const input_item& in) {
  if (!fill_template(in)) return;
  if (!first_checked_ && !first_body_gives_a_request(in.line)) return;
  auto& o = out_.buf();
  const auto from = o.size();
  o += line_head_;
  escape_into(o, id_);
  o += line_mid_;
  o += filled_;
  o += "}";
  if (!finish_line(from, 0)) {
    problem(in.line, "the request for this input is larger than one batch may be", "make the input smaller");
    return;
  }
  r_.output_token_caps = ledger::saturating_add(r_.output_token_caps, output_cap_);
  ids_.buf() += id_;
  ids_.buf() += '\n';
  ids_.maybe_flush();
}

bool manifest_assembler::fill_template(const input_item& in) {
  filled_.clear();
  for (const auto& p : parts_) {
    filled_ += p.literal;
    if (p.field.empty()) continue;
    if (in.is_text) {
      if (p.field != "input") {
        problem(in.line, "the template asks for {{" + p.field + "}}, but text inputs only have {{input}}",
                "use {{input}}, or give the inputs as objects (*.inputs.jsonl)");
        return false;
      }
      if (p.whole) filled_ += '"';
      escape_into(filled_, in.text);
      if (p.whole) filled_ += '"';
    } else {
      if (!in.field(p.field, value_)) {
        problem(in.line, "the input has no \"" + p.field + "\" field, which the template uses", "add it to every input");
        return false;
      }
      if (p.whole) filled_ += value_;
      else if (value_.size() >= 2 && value_.front() == '"') filled_.append(value_, 1, value_.size() - 2);  // escaped
      else escape_into(filled_, value_);
    }
  }
  return true;
}

bool manifest_assembler::first_body_gives_a_request(std::int64_t line) {
  first_checked_ = true;
  simdjson::dom::element b;
  std::string why, hint;
  if (value_parser_.parse(filled_).get(b) || !b.is_object()) why = "the filled template is not a JSON object";
  else why = check_body(m_.endpoint, b, hint);
  if (why.empty()) return true;
  r_.problems.insert(r_.problems.begin(), {"body", line, "the body template does not give a valid request: " + why,
                                           "see the README's manifest examples"});
  ++r_.problem_lines;
  return false;
}

}  // namespace batchd::jobfiles
