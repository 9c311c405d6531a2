#pragma once
// What later steps need from a job's file, kept with the job (jobs.spec,
// JSON) from assembly on, so the file is parsed once.
#include <map>
#include <string>
#include <vector>

namespace batchd::jobs {

// Kept with the job (jobs.spec, JSON) from assembly on.
struct job_spec {
  std::vector<std::string> ids;                 // the job's id files: every asked custom_id, in order
  std::map<std::string, std::string> metadata;  // the user's own, added to every batch's
  bool packs = false;          // a request's custom_id may stand for several inputs (packed embeddings)
  bool input_order = true;     // outbox lines in input order (else as received)
  std::string model;           // the job's model, for unpacked lines without one
  std::string id_prefix, id_field;  // how a manifest's inputs are named
  // Embeddings manifests: "jsonl", "npy" or "both" (manifest.hpp). When batchd
  // asked for base64 itself, results.jsonl gets the vectors back as floats.
  std::string output = "jsonl";
  bool float_lines = false;
  bool writes_vectors() const { return output != "jsonl"; }  // embeddings.npy and its row map
  bool writes_lines() const { return output != "npy"; }      // results.jsonl
  std::string texts;  // each input's text, cut short, one JSON string a line (for the vector file's row map)

  static job_spec parse(const std::string& text);  // "" gives the defaults
  std::string dump() const;
};

}  // namespace batchd::jobs
