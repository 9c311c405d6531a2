#include "jobfiles/manifest_assembly.hpp"

#include <simdjson.h>

#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <system_error>
#include <unordered_set>

#include "io/line_reader.hpp"
#include "io/hashing_writer.hpp"
#include "jobfiles/manifest_lines.hpp"

namespace batchd::jobfiles {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// One input as the assembler sees it: a text, or an object's fields (as JSON text).
struct input_item {
  std::int64_t line = 0;  // 1-based, in the inputs file or the inline array
  bool is_text = true;
  std::string_view text;  // is_text
  // !is_text: a field's JSON text; false if absent
  std::function<bool(const std::string&, std::string&)> field;
};

}  // namespace

std::string pack_id(std::int64_t first, std::int64_t count) {
  return "batchd-pack-" + std::to_string(first) + "-" + std::to_string(count);
}

bool parse_pack_id(std::string_view id, std::int64_t& first, std::int64_t& count) {
  constexpr std::string_view prefix = "batchd-pack-";
  if (id.substr(0, prefix.size()) != prefix) return false;
  id.remove_prefix(prefix.size());
  const auto dash = id.find('-');
  if (dash == std::string_view::npos) return false;
  try {
    first = std::stoll(std::string(id.substr(0, dash)));
    count = std::stoll(std::string(id.substr(dash + 1)));
  } catch (const std::exception&) {
    return false;
  }
  return count > 0 && first >= 0;
}

assembly_report assemble_manifest(const manifest& m, const fs::path& inputs_file, const fs::path& requests_path,
                                  const fs::path& ids_path, const fs::path& texts_path, const batch_limits& limits,
                                  std::size_t max_problems) {
  assembly_report r;
  auto problem = [&](std::int64_t line, std::string message, std::string hint) {
    ++r.problem_lines;
    if (r.problems.size() < max_problems)
      r.problems.push_back({m.inputs_file.empty() ? "inputs" : "inputs_file", line, std::move(message), std::move(hint)});
  };
  io::hashing_writer out(requests_path);
  writer ids(ids_path);
  std::optional<writer> texts;
  if (!texts_path.empty()) texts.emplace(texts_path);
  chunk_cutter cutter(requests_path, limits, out);
  // Appends the line the buffer holds from `from` on (its newline added here).
  auto finish_line = [&](std::size_t from, std::int64_t inputs) {
    auto& b = out.buf();
    b += '\n';
    const std::string_view line(b.data() + from, b.size() - from);
    if (static_cast<std::int64_t>(line.size()) > limits.max_bytes) {
      b.resize(from);
      return false;
    }
    cutter.add(out.written() - line.size(), static_cast<std::int64_t>(line.size()), inputs);
    ++r.requests;
    out.maybe_send();
    return true;
  };
  const std::int64_t output_cap = literal_output_cap(m.body);
  json body = m.body;
  body["model"] = m.model;
  if (m.asks_base64()) body["encoding_format"] = "base64";
  const auto body_text = body.dump();
  const auto parts = compile(body_text);
  const std::string line_head = "{\"custom_id\":\"", line_mid = "\",\"method\":\"POST\",\"url\":\"" + m.endpoint + "\",\"body\":";
  // Packed embeddings: the template, then "input":[…].
  const std::string pack_body_head = body_text.substr(0, body_text.size() - 1) + (body.size() > 0 ? "," : "") + "\"input\":[";
  auto body_problem = [&](std::string message, std::string hint) {
    ++r.problem_lines;
    if (r.problems.size() < max_problems) r.problems.push_back({"body", 0, std::move(message), std::move(hint)});
  };
  if (m.packs() && parts.size() > 1)
    body_problem("the body template of an embeddings manifest has a {{placeholder}}; the inputs are the texts to embed",
                 "remove the placeholders; for object inputs name the text's field in \"input_field\"");
  if (!m.packs() && parts.size() == 1)
    body_problem("the body template uses no input: every request would be the same",
                 "put {{input}} (text inputs) or {{field}} (object inputs) where each input goes, e.g. in a message's content");

  std::unordered_set<std::string> seen_ids;
  const int packed_inputs = m.packed_inputs();
  // Packing state.
  std::string pack;            // the current packed request's input array content
  std::int64_t pack_first = 0, pack_count = 0, pack_bytes = 0, batch_inputs = 0;
  auto close_pack = [&] {
    if (pack_count == 0) return;
    auto& b = out.buf();
    const auto from = b.size();
    b += line_head;
    b += pack_id(pack_first, pack_count);
    b += line_mid;
    b += pack_body_head;
    b += pack;
    b += "]}}";
    finish_line(from, pack_count);  // sized to fit a batch when the inputs were added
    pack.clear();
    pack_count = 0;
    pack_bytes = 0;
  };
  std::string id, value, filled, piece;
  simdjson::dom::parser value_parser;  // reads a field's JSON text back (ids, texts of object inputs)
  bool first_checked = false;

  auto take = [&](const input_item& in) {
    const auto index = r.inputs++;  // 0-based input index
    // The custom_id.
    if (m.id_field.empty()) {
      id = m.id_prefix;
      id += std::to_string(index + 1);
    } else {
      if (in.is_text || !in.field(m.id_field, value)) {
        problem(in.line, "the input has no \"" + m.id_field + "\" field for its custom_id", "add it, or use a custom_id prefix");
        return;
      }
      simdjson::dom::element v;
      std::string_view s;
      if (!value_parser.parse(value).get(v) && !v.get(s)) id = s;
      else id = value;  // a number: its JSON text
      if (id.empty()) {
        problem(in.line, "the custom_id field \"" + m.id_field + "\" is empty", "give every input an id");
        return;
      }
      if (std::any_of(id.begin(), id.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
        problem(in.line, "custom_id \"" + m.id_field + "\" holds a control character (a newline, a tab…)",
                "use ids of printable characters");
        return;
      }
      if (!seen_ids.insert(id).second) {
        problem(in.line, "custom_id \"" + id + "\" is used by an earlier input", "make the ids unique");
        return;
      }
    }
    if (m.packs()) {
      std::string_view text = in.text;
      if (!in.is_text) {
        if (!in.field(m.input_field, value)) {
          problem(in.line, "the input has no \"" + m.input_field + "\" field (the text to embed)",
                  "add it, or name the text's field in \"input_field\"");
          return;
        }
        simdjson::dom::element v;
        std::string_view s;
        if (value_parser.parse(value).get(v) || v.get(s)) {
          problem(in.line, "\"" + m.input_field + "\" is not a string", "the text to embed must be a string");
          return;
        }
        value.assign(s);
        text = value;
      }
      if (texts) {
        auto& t = texts->buf();
        t += '"';
        escape_into(t, utf8_prefix(text, row_text_bytes));
        t += "\"\n";
        texts->maybe_flush();
      }
      if (text.empty()) {
        problem(in.line, "the input is empty; the API refuses empty embedding inputs", "remove the line or give it text");
        return;
      }
      const auto bytes = static_cast<std::int64_t>(text.size());
      const auto tokens = (bytes + 3) / 4;  // the heuristic the estimate uses: ~4 bytes a token
      if (tokens > max_tokens_per_embedding_input) {
        problem(in.line,
                "the input is about " + std::to_string(tokens) + " tokens (" + std::to_string(bytes) +
                    " bytes / 4), over the limit of " + std::to_string(max_tokens_per_embedding_input) + " for one embedding input",
                "split the text into smaller pieces");
        return;
      }
      // A token is at least one byte, so bytes bound the request's tokens. An
      // input that might pass the per-input limit goes alone: if the API
      // refuses it, it takes no other input with it.
      const bool alone = bytes > max_tokens_per_embedding_input;
      piece.clear();
      piece += '"';
      escape_into(piece, text);
      piece += '"';
      const auto line_bytes = [&](std::size_t content) {
        return static_cast<std::int64_t>(line_head.size() + line_mid.size() + pack_body_head.size() + content + 64);
      };
      if (line_bytes(piece.size()) > limits.max_bytes) {
        problem(in.line, "the input is larger than one batch may be", "make it smaller");
        return;
      }
      if (pack_count == packed_inputs || pack_bytes + bytes > max_tokens_per_embedding_request ||
          batch_inputs == limits.max_embedding_inputs || line_bytes(pack.size() + 1 + piece.size()) > limits.max_bytes ||
          alone)
        close_pack();
      if (batch_inputs == limits.max_embedding_inputs) batch_inputs = 0;
      if (pack_count == 0) pack_first = index;
      if (pack_count > 0) pack += ',';
      pack += piece;
      ++pack_count;
      ++batch_inputs;
      pack_bytes += bytes;
      if (alone) close_pack();
    } else {
      filled.clear();
      for (const auto& p : parts) {
        filled += p.literal;
        if (p.field.empty()) continue;
        if (in.is_text) {
          if (p.field != "input") {
            problem(in.line, "the template asks for {{" + p.field + "}}, but text inputs only have {{input}}",
                    "use {{input}}, or give the inputs as objects (*.inputs.jsonl)");
            return;
          }
          if (p.whole) filled += '"';
          escape_into(filled, in.text);
          if (p.whole) filled += '"';
        } else {
          if (!in.field(p.field, value)) {
            problem(in.line, "the input has no \"" + p.field + "\" field, which the template uses", "add it to every input");
            return;
          }
          if (p.whole) {
            filled += value;
          } else if (value.size() >= 2 && value.front() == '"') {
            filled.append(value, 1, value.size() - 2);  // already escaped string content
          } else {
            escape_into(filled, value);
          }
        }
      }
      if (!first_checked) {
        // The first body shows whether the template gives a valid request.
        first_checked = true;
        auto b = json::parse(filled, nullptr, false);
        std::string why;
        if (b.is_discarded() || !b.is_object()) why = "the filled template is not a JSON object";
        else if (m.endpoint == "/v1/chat/completions" && !(b.contains("messages") && b["messages"].is_array() && !b["messages"].empty()))
          why = "a chat request needs a non-empty \"messages\" array";
        else if ((m.endpoint == "/v1/responses" || m.endpoint == "/v1/moderations") && !b.contains("input"))
          why = "a " + m.endpoint + " request needs \"input\"";
        else if (m.endpoint == "/v1/completions" && !b.contains("prompt"))
          why = "a completions request needs \"prompt\"";
        if (!why.empty()) {
          r.problems.insert(r.problems.begin(), {"body", in.line, "the body template does not give a valid request: " + why,
                                                  "see the README's manifest examples"});
          ++r.problem_lines;
          return;
        }
      }
      auto& o = out.buf();
      const auto from = o.size();
      o += line_head;
      escape_into(o, id);
      o += line_mid;
      o += filled;
      o += "}";
      if (!finish_line(from, 0)) {
        problem(in.line, "the request for this input is larger than one batch may be", "make the input smaller");
        return;
      }
      r.output_token_caps = ledger::saturating_add(r.output_token_caps, output_cap);
    }
    ids.buf() += id;
    ids.buf() += '\n';
    ids.maybe_flush();
  };

  if (m.inputs) {
    std::int64_t line = 0;
    std::string text;
    for (const auto& v : *m.inputs) {
      input_item in;
      in.line = ++line;
      if (v.is_string()) {
        text = v.get<std::string>();
        in.text = text;
      } else if (v.is_object()) {
        in.is_text = false;
        in.field = [&v](const std::string& name, std::string& out) {
          if (!v.contains(name)) return false;
          out = v[name].dump();
          return true;
        };
      } else {
        problem(line, "an input must be a string or an object", "");
        continue;
      }
      take(in);
    }
  } else {
    const bool objects = inputs_file.string().ends_with(".jsonl");
    io::line_reader reader(inputs_file);
    simdjson::dom::parser parser;
    std::string_view line;
    simdjson::dom::element doc;
    while (reader.next(line)) {
      input_item in;
      in.line = reader.line_number();
      if (!simdjson::validate_utf8(line.data(), line.size())) {
        problem(in.line, "the line is not valid UTF-8", "save the file as UTF-8");
        continue;
      }
      if (!objects) {
        in.text = line;
      } else {
        if (parser.parse(line.data(), line.size(), false).get(doc) || !doc.is_object()) {
          problem(in.line, "the line is not a JSON object", "each line of a *.inputs.jsonl file is one object");
          continue;
        }
        in.is_text = false;
        in.field = [&doc](const std::string& name, std::string& out) {
          simdjson::dom::element v;
          if (doc[name].get(v)) return false;
          out = simdjson::minify(v);
          return true;
        };
      }
      take(in);
    }
  }
  close_pack();
  if (r.inputs == 0 && r.problem_lines == 0) problem(0, "there are no inputs", "add at least one");
  ids.close();
  if (texts) texts->close();
  r.chunks = cutter.finish(out.finish());
  return r;
}

}  // namespace batchd::jobfiles
