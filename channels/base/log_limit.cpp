#include "channels/base/log_limit.h"

namespace chanfs {

void LogLimiter::closeWindow(const std::string &key, KeyState &k,
                             std::chrono::steady_clock::time_point now,
                             std::vector<Suppressed> *due)
{
    if (k.suppressed) due->push_back({key, k.suppressed, k.level, now - k.windowStart});
    k.windowStart = now;
    k.lines = 0;
    k.suppressed = 0;
}

bool LogLimiter::admit(std::string_view key, spdlog::level::level_enum level,
                       std::chrono::steady_clock::time_point now, std::vector<Suppressed> *due)
{
    MutexLock g(mu_);
    // Other keys' summaries are due too, even if those keys fall silent:
    // looked at once per window, so a busy key does not pay a scan per line.
    if (now - lastSweep_ >= limits_.window) {
        lastSweep_ = now;
        for (auto it = keys_.begin(); it != keys_.end();) {
            KeyState &k = it->second;
            if (now - k.windowStart >= limits_.window) {
                if (k.suppressed) {
                    closeWindow(it->first, k, now, due);
                } else if (keys_.size() > limits_.maxKeys) {
                    it = keys_.erase(it);
                    continue;
                }
            }
            ++it;
        }
    }
    auto [it, fresh] = keys_.try_emplace(std::string(key));
    KeyState &k = it->second;
    if (fresh) k.windowStart = now;
    if (now - k.windowStart >= limits_.window) closeWindow(it->first, k, now, due);
    k.level = level;
    if (k.lines < limits_.burst) {
        ++k.lines;
        return true;
    }
    ++k.suppressed;
    return false;
}

std::vector<LogLimiter::Suppressed> LogLimiter::takeAll()
{
    MutexLock g(mu_);
    std::vector<Suppressed> due;
    const auto now = std::chrono::steady_clock::now();
    for (auto &[key, k] : keys_)
        if (k.suppressed) closeWindow(key, k, now, &due);
    return due;
}

LogLimiter &LogLimiter::global()
{
    static LogLimiter limiter;
    return limiter;
}

void logSuppressed(const std::vector<LogLimiter::Suppressed> &due)
{
    for (const LogLimiter::Suppressed &s : due) {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(s.over).count();
        spdlog::log(s.level, "{} similar lines suppressed in the last {}.{:03} s ({})", s.lines,
                    ms / 1000, ms % 1000, s.key);
    }
}

void flushSuppressedLogLines()
{
    logSuppressed(LogLimiter::global().takeAll());
}

}  // namespace chanfs
