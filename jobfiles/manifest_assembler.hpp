#pragma once
// One manifest's inputs becoming request lines, an input at a time: its
// custom_id, then either a packed embeddings request (many inputs a line,
// within the API's limits) or the body template filled from the input.
// assemble_manifest (manifest_assembly.hpp) feeds it the inputs, inline or
// from the inputs file, and finishes it.
#include <simdjson.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "io/hashing_writer.hpp"
#include "jobfiles/manifest.hpp"
#include "jobfiles/manifest_assembly.hpp"
#include "jobfiles/manifest_lines.hpp"

namespace batchd::jobfiles {

// One input as the assembler sees it: a text, or an object's fields (as JSON text).
struct input_item {
  std::int64_t line = 0;  // 1-based, in the inputs file or the inline array
  bool is_text = true;
  std::string_view text;  // is_text
  // !is_text: a field's JSON text; false if absent
  std::function<bool(const std::string&, std::string&)> field;
};

class manifest_assembler {
 public:
  manifest_assembler(const manifest& m, const std::filesystem::path& requests, const std::filesystem::path& ids,
                     const std::filesystem::path& texts, const batch_limits& limits, std::size_t max_problems);

  // Writes the input's request (or adds it to the open pack) and its id, or
  // records why it cannot.
  void take(const input_item& in);
  // A problem with the input on `line` (0: with the inputs as a whole).
  void problem(std::int64_t line, std::string message, std::string hint);
  // The last pack written, the files closed (fsynced), the chunks cut.
  assembly_report finish();

 private:
  void body_problem(std::string message, std::string hint);
  // The input's custom_id into id_, or false (a problem recorded).
  bool custom_id_of(const input_item& in, std::int64_t index);
  // The text to embed into `text`, or false (a problem recorded).
  bool text_to_embed(const input_item& in, std::string_view& text);
  void pack(const input_item& in, std::int64_t index);
  void close_pack();
  void fill(const input_item& in);
  // The body template filled from the input into filled_, or false.
  bool fill_template(const input_item& in);
  // The first filled body says whether the template gives a valid request.
  bool first_body_gives_a_request(std::int64_t line);
  // Appends the line the buffer holds from `from` on; false (and it is taken
  // back) when it is larger than a batch may be.
  bool finish_line(std::size_t from, std::int64_t inputs);
  // The bytes of a packed request line whose inputs take `content` bytes, with room to spare.
  std::int64_t pack_line_bytes(std::size_t content) const;

  const manifest& m_;
  const batch_limits limits_;
  const std::size_t max_problems_;
  assembly_report r_;
  io::hashing_writer out_;
  writer ids_;
  std::optional<writer> texts_;
  chunk_cutter cutter_;
  std::int64_t output_cap_ = 0;
  std::vector<template_part> parts_;
  std::string line_head_, line_mid_, pack_body_head_;
  std::unordered_set<std::string> seen_ids_;
  int packed_inputs_ = 0;
  // The open pack: its inputs' array content, first input, count and bytes;
  // inputs in the batch so far.
  std::string pack_;
  std::int64_t pack_first_ = 0, pack_count_ = 0, pack_bytes_ = 0, batch_inputs_ = 0;
  std::string id_, value_, filled_, piece_;
  simdjson::dom::parser value_parser_;  // reads a field's JSON text back (ids, texts of object inputs)
  bool first_checked_ = false;
};

}  // namespace batchd::jobfiles
