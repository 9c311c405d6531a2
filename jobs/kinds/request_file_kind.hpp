#pragma once
// A batch request file (*.jsonl): validated line by line and cut into byte
// ranges of the kept file; its outbox lines are the result lines as OpenAI
// sent them.
#include "jobs/kinds/job_kind.hpp"

namespace batchd::jobs {

class request_file_kind final : public job_kind {
 public:
  std::string_view name() const override { return "requests"; }
  assembly assemble(const store::job_row& job, const std::filesystem::path& work,
                    const jobfiles::intake_options& opt) const override;
  job_spec recover_spec(const store::job_row& job, const std::filesystem::path& job_dir,
                        const std::filesystem::path& work) const override;
  void publish(outbox_writer& out, const result_parts& parts, const job_spec& spec) const override;
};

}  // namespace batchd::jobs
