// Shared by the libFuzzer targets: an invariant check that aborts (so
// libFuzzer saves the input as a crash), and quiet logging (the channel
// logs a warning per refused write; at fuzzing speed that is noise).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include <spdlog/spdlog.h>

namespace chanfs::fuzz {

[[noreturn]] inline void violated(const char *file, int line, const char *cond,
                                  const std::string &detail)
{
    std::fprintf(stderr, "%s:%d: invariant violated: %s\n  %s\n", file, line, cond, detail.c_str());
    std::abort();
}

// Bytes shown safely in a message: printable ASCII as is, the rest \xNN.
inline std::string shown(std::string_view s, size_t limit = 200)
{
    std::string out = "\"";
    for (size_t i = 0; i < s.size() && i < limit; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out += static_cast<char>(c);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
    }
    if (s.size() > limit) out += "...";
    return out + "\" (" + std::to_string(s.size()) + " bytes)";
}

inline void quietLogs()
{
    spdlog::set_level(spdlog::level::off);
}

}  // namespace chanfs::fuzz

// CHECK(cond, detail): detail is any expression giving a std::string,
// evaluated only on failure.
#define FUZZ_CHECK(cond, detail)                                                    \
    do {                                                                            \
        if (!(cond)) ::chanfs::fuzz::violated(__FILE__, __LINE__, #cond, (detail)); \
    } while (0)
