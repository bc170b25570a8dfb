// A limit on log lines that clients can repeat at will (one per setxattr,
// one per killed writer): each call site names a key, a key gets `burst`
// lines per window, and the lines past that are counted and reported as one
// "N similar lines suppressed" line once the window is over (at the key's
// next line, at any other key's line, or at flushSuppressedLogLines()).
// spdlog has no limiter of its own. No FUSE: usable from channels/ and fs/.
//
// Thread-safety: thread-safe. One mutex, held for a map lookup only, never
// while a line is written (spdlog has its own).
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "channels/base/mutex.h"

namespace chanfs {

class LogLimiter {
public:
    struct Limits {
        uint32_t burst = 20;  // lines per key per window
        std::chrono::nanoseconds window = std::chrono::seconds(1);
        size_t maxKeys = 1024;  // idle keys beyond this are forgotten
    };
    // A key's lines that were held back in a window now over.
    struct Suppressed {
        std::string key;
        uint64_t lines = 0;
        spdlog::level::level_enum level = spdlog::level::info;
        std::chrono::nanoseconds over{0};
    };

    LogLimiter() = default;
    explicit LogLimiter(Limits limits) : limits_(limits) {}

    // Whether a line with `key` may be written at `now` (steady clock);
    // appends to `due` the summaries that are due first.
    bool admit(std::string_view key, spdlog::level::level_enum level,
               std::chrono::steady_clock::time_point now, std::vector<Suppressed> *due);
    // Every summary still pending (the daemon is stopping).
    std::vector<Suppressed> takeAll();

    // The daemon's one limiter.
    static LogLimiter &global();

private:
    struct KeyState {
        std::chrono::steady_clock::time_point windowStart{};
        uint32_t lines = 0;
        uint64_t suppressed = 0;
        spdlog::level::level_enum level = spdlog::level::info;
    };
    void closeWindow(const std::string &key, KeyState &k, std::chrono::steady_clock::time_point now,
                     std::vector<Suppressed> *due) REQUIRES(mu_);

    const Limits limits_{};
    // A leaf lock: log lines come from under any other lock.
    Mutex mu_;
    std::unordered_map<std::string, KeyState> keys_ GUARDED_BY(mu_);
    std::chrono::steady_clock::time_point lastSweep_ GUARDED_BY(mu_){};
};

// Writes the summaries (the lines say how many were held back and for how long).
void logSuppressed(const std::vector<LogLimiter::Suppressed> &due);
// Writes every pending summary now; main() calls it when unmounting.
void flushSuppressedLogLines();

// spdlog::log(level, ...), limited per `key` by the global limiter.
template <typename... Args>
void logLimited(spdlog::level::level_enum level, std::string_view key,
                spdlog::format_string_t<Args...> fmt, Args &&...args)
{
    if (!spdlog::should_log(level)) return;
    std::vector<LogLimiter::Suppressed> due;
    const bool ok = LogLimiter::global().admit(key, level, std::chrono::steady_clock::now(), &due);
    if (!due.empty()) logSuppressed(due);
    if (ok) spdlog::log(level, fmt, std::forward<Args>(args)...);
}

}  // namespace chanfs
