#pragma once
// A manifest (*.job.json): read and checked once, at assembly; batchd
// writes the request lines itself (packing embeddings), and its outbox has
// one line per input.
#include "jobs/kinds/job_kind.hpp"

namespace batchd::jobs {

class manifest_kind final : public job_kind {
 public:
  std::string_view name() const override { return "manifest"; }
  std::vector<std::filesystem::path> companions(const std::filesystem::path& dropped) const override;
  assembly assemble(const store::job_row& job, const std::filesystem::path& work,
                    const jobfiles::intake_options& opt) const override;
  job_spec recover_spec(const store::job_row& job, const std::filesystem::path& job_dir,
                        const std::filesystem::path& work) const override;
  void publish(outbox_writer& out, const result_parts& parts, const job_spec& spec) const override;
};

}  // namespace batchd::jobs
