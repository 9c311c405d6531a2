#pragma once
// Logs to stderr through spdlog: under systemd (JOURNAL_STREAM set) each line
// starts with its syslog priority ("<6>") so journald files it right, and
// carries no timestamp of its own; elsewhere, plain lines with a timestamp.
#include <string>

namespace batchd::daemon {

void setup_logging(const std::string& level);

}  // namespace batchd::daemon
