#include "daemon/inbox_watcher.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <system_error>

#include "jobs/intake/intake.hpp"

namespace batchd::daemon {
namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace asio::experimental::awaitable_operators;

namespace {

void scan(const fs::path& inbox, const file_handler& on_file) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(inbox, ec)) {
    if (jobs::is_candidate_name(entry.path().filename().string())) on_file(entry.path(), false);
  }
}

asio::awaitable<void> rescan_loop(fs::path inbox, file_handler on_file,
                                  std::chrono::steady_clock::duration every) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(every);
    co_await timer.async_wait(asio::use_awaitable);
    scan(inbox, on_file);
  }
}

// The events in `data`. Each header is copied out, not cast in place: the
// buffer lives in a coroutine frame, where GCC does not honour alignas (UBSan
// caught a misaligned read), and a flexible array member may not live there.
void handle_events(const char* data, std::size_t n, const fs::path& inbox, const file_handler& on_file) {
  for (std::size_t at = 0; at + sizeof(inotify_event) <= n;) {
    inotify_event ev;
    std::memcpy(&ev, data + at, sizeof ev);
    const char* name_at = data + at + sizeof(inotify_event);
    at += sizeof(inotify_event) + ev.len;
    if (ev.mask & IN_Q_OVERFLOW) {
      scan(inbox, on_file);  // events were lost: look at everything
      continue;
    }
    if (ev.len == 0) continue;
    const std::string name(name_at, ::strnlen(name_at, ev.len));
    if (jobs::is_candidate_name(name)) on_file(inbox / name, true);
  }
}

asio::awaitable<void> event_loop(asio::posix::stream_descriptor stream, fs::path inbox,
                                 file_handler on_file) {
  std::vector<char> buf(64 * 1024);
  for (;;) {
    const auto n = co_await stream.async_read_some(asio::buffer(buf), asio::use_awaitable);
    handle_events(buf.data(), n, inbox, on_file);
  }
}

}  // namespace

asio::awaitable<void> watch_inbox(fs::path inbox, file_handler on_file,
                                  std::chrono::steady_clock::duration rescan_every) {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "inotify_init1");
  asio::posix::stream_descriptor stream(co_await asio::this_coro::executor, fd);
  if (::inotify_add_watch(fd, inbox.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO) < 0)
    throw std::system_error(errno, std::generic_category(), "inotify_add_watch " + inbox.string());
  // Watching before the first scan: a file dropped in between is not missed.
  scan(inbox, on_file);
  co_await (event_loop(std::move(stream), inbox, on_file) || rescan_loop(inbox, on_file, rescan_every));
}

}  // namespace batchd::daemon
