#include "fs/base/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

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

// One JSON object per line: {"time", "level", "event", "channel", "errno"}.
// Log calls stay plain text, so the fields are read off the shapes the
// project's lines share (see channelIn), and a strerror() text in the line
// gives the errno's symbolic name. Absent fields are left out.
class JsonLineFormatter final : public spdlog::formatter {
public:
    explicit JsonLineFormatter(bool withTime) : withTime_(withTime) {}
    void format(const spdlog::details::log_msg &msg, spdlog::memory_buf_t &dest) override
    {
        const std::string_view text(msg.payload.data(), msg.payload.size());
        nlohmann::ordered_json line;
        if (withTime_) {
            const auto us =
                std::chrono::duration_cast<std::chrono::microseconds>(msg.time.time_since_epoch())
                    .count();
            line["time"] = static_cast<double>(us) / 1e6;
        }
        const auto lv = spdlog::level::to_string_view(msg.level);
        line["level"] = std::string_view(lv.data(), lv.size()) == "warning"
                            ? "warn"
                            : std::string(lv.data(), lv.size());
        line["event"] = std::string(text);
        if (const std::string_view ch = channelIn(text); !ch.empty())
            line["channel"] = std::string(ch);
        if (const char *err = errnoNameIn(text)) line["errno"] = err;
        // Names are any bytes: bytes that are not UTF-8 become U+FFFD.
        const std::string out = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        dest.append(out.data(), out.data() + out.size());
        dest.push_back('\n');
    }
    std::unique_ptr<spdlog::formatter> clone() const override
    {
        return std::make_unique<JsonLineFormatter>(withTime_);
    }

private:
    // The channel a line is about, in the forms the daemon's lines use:
    // "channel NAME ...", "/PATH: ...", "... on /PATH ...". "" if none.
    static std::string_view channelIn(std::string_view text)
    {
        auto token = [&](size_t from) {
            const size_t end = text.find_first_of(" :", from);
            return text.substr(from, end == std::string_view::npos ? end : end - from);
        };
        if (text.substr(0, 8) == "channel ") return token(8);
        if (!text.empty() && text[0] == '/') return token(0);
        if (const size_t on = text.find(" on /"); on != std::string_view::npos)
            return token(on + 4);
        return {};
    }
    // "EACCES" if the line holds strerror(EACCES)'s text; the longest match
    // wins ("No such device" is not "No such device or address").
    static const char *errnoNameIn(std::string_view text)
    {
        const char *best = nullptr;
        size_t bestLen = 0;
        for (int e = 1; e < 134; ++e) {
            const char *name = ::strerrorname_np(e);
            if (!name) continue;
            const std::string_view desc = std::strerror(e);
            if (desc.size() > bestLen && text.find(desc) != std::string_view::npos) {
                best = name;
                bestLen = desc.size();
            }
        }
        return best;
    }
    bool withTime_;
};

}  // namespace

void setupLogging(const std::string &level, bool toSyslog, bool json)
{
    std::shared_ptr<spdlog::logger> logger;
    if (toSyslog)
        logger = spdlog::syslog_logger_mt("chanfs-syslog", "chanfs", LOG_PID, LOG_DAEMON);
    else
        logger = spdlog::stderr_logger_mt("chanfs");
    spdlog::set_default_logger(logger);
    if (json) {
        // The journal and syslog stamp lines themselves.
        spdlog::set_formatter(std::make_unique<JsonLineFormatter>(!toSyslog && !stderrIsJournal()));
    } else if (!toSyslog && stderrIsJournal()) {
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
