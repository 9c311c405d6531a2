#pragma once
// Jobs whose step threw (a full disk, a file that cannot be read, a bug)
// are not left stranded: the error is recorded with the time to try again,
// and after a bound the job fails with it (after River's job rescuer and
// retry policy). run_once() is apart from any timer, so tests drive it with
// their own clock.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "store/database.hpp"

namespace batchd::jobs {

class job_transitions;

struct rescue_policy {
  double initial_s = 30;
  double cap_s = 3600;
  int max_failures = 10;
};

// When a job whose step has thrown `failures` times in a row (1 after the
// first) runs again: now + min(cap, initial × 2^(failures-1)). Pure.
double step_retry_at(const rescue_policy& p, int failures, double now);

class rescuer {
 public:
  rescuer(store::database& db, job_transitions& moves, rescue_policy policy);
  void set_policy(rescue_policy policy) { policy_ = policy; }

  // A step of `job` threw `what` at `now`: recorded for a retry (true), or
  // the job failed, every request accounted for, once the tries are spent (false).
  bool step_failed(const store::job_row& job, const std::string& what, double now);

  // The unfinished jobs to run at `now`: those not `running`, with no step
  // error or whose retry time has come. Finished jobs whose result files
  // could not be written when they ended get them written now.
  std::vector<std::int64_t> run_once(double now, const std::function<bool(std::int64_t)>& running);

 private:
  store::database& db_;
  job_transitions& moves_;
  rescue_policy policy_;
};

}  // namespace batchd::jobs
