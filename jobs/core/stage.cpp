#include "jobs/core/stage.hpp"

#include <array>
#include <utility>

namespace batchd::jobs {
namespace {

constexpr std::array job_names = {"received", "assembled", "held",   "running",
                                  "merged",   "completed", "failed", "cancelled"};
constexpr std::array chunk_names = {"assembled", "uploading",   "uploaded", "creating", "polling",
                                    "downloading", "merged", "failed",   "cancelled"};

template <class E, std::size_t N>
std::optional<E> parse(std::string_view s, const std::array<const char*, N>& names) {
  for (std::size_t i = 0; i < N; ++i)
    if (s == names[i]) return static_cast<E>(i);
  return std::nullopt;
}

static_assert(std::size(all_job_stages) == job_names.size(), "all_job_stages lists every stage");

}  // namespace

std::string_view name(job_stage s) { return job_names[static_cast<std::size_t>(s)]; }
std::string_view name(chunk_stage s) { return chunk_names[static_cast<std::size_t>(s)]; }
std::optional<job_stage> parse_job_stage(std::string_view s) { return parse<job_stage>(s, job_names); }
std::optional<chunk_stage> parse_chunk_stage(std::string_view s) {
  return parse<chunk_stage>(s, chunk_names);
}

bool is_terminal(job_stage s) {
  return s == job_stage::completed || s == job_stage::failed || s == job_stage::cancelled;
}
bool is_terminal(chunk_stage s) {
  return s == chunk_stage::merged || s == chunk_stage::failed || s == chunk_stage::cancelled;
}

bool can_move(job_stage from, job_stage to) {
  using enum job_stage;
  if (is_terminal(from)) return false;
  if (to == failed || to == cancelled) return true;
  return (from == received && to == assembled) || (from == assembled && to == running) || (from == assembled && to == held) ||
         (from == held && to == running) || (from == running && to == held) || (from == running && to == merged) ||
         (from == merged && to == completed);
}

bool can_move(chunk_stage from, chunk_stage to) {
  using enum chunk_stage;
  if (is_terminal(from)) return false;
  if (to == failed) return true;
  if (to == cancelled) return from == assembled || from == uploading || from == uploaded || from == creating;
  static constexpr std::pair<chunk_stage, chunk_stage> moves[] = {
      {assembled, uploading}, {uploading, uploaded}, {uploaded, creating}, {creating, polling},
      {creating, uploaded},   {polling, uploaded},   {polling, downloading}, {downloading, merged}};
  for (auto [a, b] : moves)
    if (a == from && b == to) return true;
  return false;
}

std::string_view public_status(job_stage s) {
  switch (s) {
    case job_stage::received:
    case job_stage::assembled: return "queued";
    case job_stage::held: return "held";
    case job_stage::running:
    case job_stage::merged: return "running";
    case job_stage::completed: return "completed";
    case job_stage::failed: return "failed";
    case job_stage::cancelled: return "cancelled";
  }
  return "unknown";
}

}  // namespace batchd::jobs
