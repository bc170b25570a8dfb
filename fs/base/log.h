// Logging setup: spdlog to stderr in the foreground, to syslog (journald)
// once daemonized. A foreground daemon whose stderr is the journal (a
// systemd service) writes "<N>[level] message" lines: journald takes the
// priority from the prefix and adds its own timestamp.
#pragma once

#include <string>

namespace chanfs::fs {

bool validLogLevel(const std::string &level);
void setupLogging(const std::string &level, bool toSyslog);
// Keeps a log line readable whatever bytes a user sent (names, values).
std::string printable(std::string_view s, size_t max = 80);

}  // namespace chanfs::fs
