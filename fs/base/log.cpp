#include "fs/base/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace chanfs::fs {

bool validLogLevel(const std::string &level)
{
    return level == "trace" || level == "debug" || level == "info" || level == "warn" ||
           level == "error" || level == "off";
}

namespace {

// "<N>", the syslog priority of the line, which journald reads off the
// start of each line a service writes to stderr.
class JournalPriorityFlag final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg &msg, const std::tm &,
                spdlog::memory_buf_t &dest) override
    {
        int prio = LOG_DEBUG;
        switch (msg.level) {
        case spdlog::level::info: prio = LOG_INFO; break;
        case spdlog::level::warn: prio = LOG_WARNING; break;
        case spdlog::level::err: prio = LOG_ERR; break;
        case spdlog::level::critical: prio = LOG_CRIT; break;
        default: break;
        }
        const char text[] = {'<', static_cast<char>('0' + prio), '>'};
        dest.append(text, text + sizeof text);
    }
    std::unique_ptr<custom_flag_formatter> clone() const override
    {
        return std::make_unique<JournalPriorityFlag>();
    }
};

// systemd sets JOURNAL_STREAM=DEV:INODE when it connects stderr to the
// journal; a redirected stderr no longer matches.
bool stderrIsJournal()
{
    const char *stream = std::getenv("JOURNAL_STREAM");
    if (!stream) return false;
    unsigned long long dev = 0, ino = 0;
    if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
    struct stat st {};
    return ::fstat(STDERR_FILENO, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

}  // namespace

void setupLogging(const std::string &level, bool toSyslog)
{
    std::shared_ptr<spdlog::logger> logger;
    if (toSyslog)
        logger = spdlog::syslog_logger_mt("chanfs-syslog", "chanfs", LOG_PID, LOG_DAEMON);
    else
        logger = spdlog::stderr_logger_mt("chanfs");
    spdlog::set_default_logger(logger);
    if (!toSyslog && stderrIsJournal()) {
        // The journal adds its own timestamps; the prefix gives it the level.
        auto formatter = std::make_unique<spdlog::pattern_formatter>();
        formatter->add_flag<JournalPriorityFlag>('*').set_pattern("%*[%l] %v");
        spdlog::set_formatter(std::move(formatter));
    } else {
        spdlog::set_pattern(toSyslog ? "[%l] %v" : "[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
    }
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
