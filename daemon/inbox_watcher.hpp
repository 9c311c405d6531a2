#pragma once
// Watches inbox/ and reports each file that appears: a scan at start, then
// inotify (close-write, moved-to), and a periodic rescan as a safety net for
// events the kernel dropped (IN_Q_OVERFLOW) or that happened while down.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <functional>

namespace batchd::daemon {

// `settled`: announced by its writer's close or rename (else found by a scan,
// perhaps still being written).
using file_handler = std::function<void(const std::filesystem::path&, bool settled)>;

// Runs until cancelled. `on_file` gets paths of candidate names only (not
// hidden, not .tmp/.part); it must take the file out of inbox/ (or leave it
// to be reported again at the next rescan). Throws if inotify cannot start.
boost::asio::awaitable<void> watch_inbox(std::filesystem::path inbox, file_handler on_file,
                                         std::chrono::steady_clock::duration rescan_every);

}  // namespace batchd::daemon
