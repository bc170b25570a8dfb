// TOML text that chanfs writes and reads back: shared by the config file's
// messages (fs/config/config.cpp) and `chanctl export` (tools/chanctl), which
// otherwise depends on nothing of chanfs. Header-only, no state.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace chanfs {

// A TOML basic string: quotes and backslashes escaped, control bytes as \uXXXX.
inline std::string tomlString(std::string_view s)
{
    std::string out = "\"";
    for (const char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

}  // namespace chanfs
