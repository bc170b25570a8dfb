// Logging setup: spdlog to stderr in the foreground, to syslog (journald)
// once daemonized. A foreground daemon whose stderr is the journal (a
// systemd service) writes "<N>[level] message" lines: journald takes the
// priority from the prefix and adds its own timestamp. -o log_format=json
// makes every line one JSON object (time, level, event, channel, errno) for
// log shippers; the text stays the default.
#pragma once

#include <string>

namespace chanfs::fs {

bool validLogLevel(const std::string &level);
// json: one JSON object per line (-o log_format=json), see JsonLineFormatter
// in log.cpp; otherwise the text lines above.
void setupLogging(const std::string &level, bool toSyslog, bool json = false);
// Keeps a log line readable whatever bytes a user sent (names, values).
std::string printable(std::string_view s, size_t max = 80);

}  // namespace chanfs::fs
