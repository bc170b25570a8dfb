#include "log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <syslog.h>

#include <cstdio>

namespace chanfs::fs {

bool validLogLevel(const std::string &level)
{
    return level == "trace" || level == "debug" || level == "info" || level == "warn" ||
           level == "error" || level == "off";
}

void setupLogging(const std::string &level, bool toSyslog)
{
    std::shared_ptr<spdlog::logger> logger;
    if (toSyslog)
        logger = spdlog::syslog_logger_mt("chanfs-syslog", "chanfs", LOG_PID, LOG_DAEMON);
    else
        logger = spdlog::stderr_logger_mt("chanfs");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern(toSyslog ? "[%l] %v" : "[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
    spdlog::set_level(spdlog::level::from_str(level == "warn" ? "warning" : level));
    spdlog::flush_on(spdlog::level::info);
}

std::string printable(std::string_view s, size_t max)
{
    std::string out;
    for (size_t i = 0; i < s.size() && i < max; ++i) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out += static_cast<char>(c);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
    }
    if (s.size() > max) out += "...";
    return out;
}

}  // namespace chanfs::fs
