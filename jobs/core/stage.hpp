#pragma once
// The one state machine: the stages a job and each of its chunks (one chunk
// = one OpenAI batch attempt) move through, which moves are allowed, and how
// a stage shows to users. store/ repeats the stage names in CHECK
// constraints; everything else asks here.
//
// Job:   received → assembled → running → merged → completed
//        assembled → held → running  (held: over its cost limit or the daily
//                                     budget, until released or the budget allows)
//        running → held → running    (held: the account is out of quota; until
//                                     resumed, or an hourly look finds it topped up)
//        any non-terminal → failed | cancelled
//        Who moves a job: jobs/job_transitions.cpp, and nothing else. A
//        step that throws does not move it: the rescuer runs it again later.
// Chunk: assembled → uploading → uploaded → creating → polling → downloading → merged
//        creating → uploaded          (create refused for now: try later)
//        polling → uploaded           (batch failed with token_limit_exceeded: create again later)
//        assembled | uploading | uploaded | creating → cancelled   (cancelled before a batch existed)
//        any non-terminal → failed    (a final error no retry can fix)
// `uploading` and `creating` record the intent before the call: after a
// crash they mean "this may have happened: look for it before doing it again".
#include <optional>
#include <string_view>

namespace batchd::jobs {

enum class job_stage { received, assembled, held, running, merged, completed, failed, cancelled };
inline constexpr job_stage all_job_stages[] = {job_stage::received, job_stage::assembled, job_stage::held,
                                               job_stage::running,  job_stage::merged,    job_stage::completed,
                                               job_stage::failed,   job_stage::cancelled};
enum class chunk_stage {
  assembled, uploading, uploaded, creating, polling, downloading, merged, failed, cancelled
};

std::string_view name(job_stage s);
std::string_view name(chunk_stage s);
std::optional<job_stage> parse_job_stage(std::string_view s);
std::optional<chunk_stage> parse_chunk_stage(std::string_view s);

bool is_terminal(job_stage s);
bool is_terminal(chunk_stage s);
bool can_move(job_stage from, job_stage to);
bool can_move(chunk_stage from, chunk_stage to);

// The status users see in job.json and on the socket (DESIGN.md):
// queued, held, running, completed, failed, cancelled.
std::string_view public_status(job_stage s);

}  // namespace batchd::jobs
