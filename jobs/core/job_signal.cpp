#include "jobs/core/job_signal.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace batchd::jobs {
namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

job_signal::job_signal(asio::any_io_executor ex, bool cancelled)
    : bell_(std::move(ex), asio::steady_timer::time_point::max()), cancelled_(cancelled) {}

void job_signal::wake() { bell_.cancel(); }

void job_signal::cancel() {
  cancelled_ = true;
  wake();
}

asio::awaitable<void> job_signal::sleep(std::chrono::steady_clock::duration d) {
  asio::steady_timer t(bell_.get_executor(), d);
  // Whichever ends first cancels the other; both end without throwing.
  co_await (t.async_wait(asio::as_tuple(asio::use_awaitable)) || bell_.async_wait(asio::as_tuple(asio::use_awaitable)));
}

}  // namespace batchd::jobs
