#pragma once
// One per running job: the sleeps of its coroutines, which a cancel or a
// release cuts short, and whether a cancel was asked. Shared by the job's
// coroutines, so it lives as long as the last of them.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

namespace batchd::jobs {

class job_signal {
 public:
  job_signal(boost::asio::any_io_executor ex, bool cancelled);
  // Ends every sleep of the job now (they return normally).
  void wake();
  // Records that the job is to be cancelled (already durable), then wakes it.
  void cancel();
  bool cancelled() const { return cancelled_; }
  // One of the job's chunks threw: the others stop at their next step, so the
  // job ends soon and the rescuer takes it (instead of hours later).
  void stop() {
    stopping_ = true;
    wake();
  }
  bool stopping() const { return stopping_; }
  // Sleeps for `d`, or until wake().
  boost::asio::awaitable<void> sleep(std::chrono::steady_clock::duration d);

 private:
  boost::asio::steady_timer bell_;  // never expires: cancelling it wakes every sleeper
  bool cancelled_;
  bool stopping_ = false;
};

}  // namespace batchd::jobs
