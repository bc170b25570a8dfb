// The config file (STATE_DIR/chanfs.toml or -o config=FILE): directories
// and channels with their settings, modes, owners and bridges, made at
// mount. Parsing and checking are done here, completely, before anything is
// mounted or created, so a bad file never leaves half a tree; applying it
// to the tree is config_apply.cpp. No FUSE dependency.
// Plain values and free functions: thread-compatible.
#pragma once

#include "channels/storage/nats/nats_config.h"

#include <sys/types.h>

#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "channels/base/settings.h"

namespace chanfs::fs {

inline constexpr const char *kConfigFileName = "chanfs.toml";
inline constexpr mode_t kConfigDirMode = 0755;
inline constexpr mode_t kConfigChannelMode = 0644;

// One thing wrong with a file. `line` is 1-based; 0 means the whole file
// (it could not be read).
struct ConfigProblem {
    int line = 0;
    std::string message;

    bool operator==(const ConfigProblem &) const = default;
};

// For test failure messages.
inline void PrintTo(const ConfigProblem &p, std::ostream *os)
{
    *os << p.line << ": " << p.message;
}

// "FILE:LINE: message" (or "FILE: message" for line 0).
std::string formatProblem(const std::string &file, const ConfigProblem &p);

// A [mount], [dir."PATH"] or [channel."PATH"] table, checked.
struct ConfigNode {
    std::string path;     // relative to the mount root; "" for [mount]
    bool isRoot = false;  // [mount]
    bool isDir = true;
    int line = 0;  // of its table header
    // Settings as written, as text, in kSettingNames order (kind and
    // framing first): applied to a directory's defaults or a new channel
    // exactly as setxattr would apply them.
    std::vector<std::pair<std::string, std::string>> settings;
    std::optional<mode_t> mode;
    std::optional<uid_t> uid;
    std::optional<gid_t> gid;
    // Endpoints by registry key, in registry order: ("fifo", "in:/path"),
    // ("uds", "listen:/path"), ... each value checked by its kind's parser.
    std::vector<std::pair<std::string, std::string>> endpoints;
    std::map<std::string, int> keyLines;         // where each key was written
    std::map<std::string, std::string> written;  // and its value as written

    // The value written for endpoint `key`, or "".
    std::string endpoint(std::string_view key) const;
    // The line of `key` if known, else the table's.
    int lineOf(const std::string &key) const;
    // `[channel."a/b"]`, `[dir."a"]` or `[mount]`, for messages.
    std::string table() const;
};

struct Config {
    std::string file;
    // [nats]: servers = ["nats://..."], creds/ca/cert/key = "/path",
    // prefix = "NAME": the same as -o nats=... (the -o options win).
    NatsConfig nats;
    ConfigNode root;  // [mount]: the mount root's defaults, mode, owner
    // Directories and channels, each parent before what is under it.
    std::vector<ConfigNode> nodes;
};

// Parses and checks `text` (called `file` in messages): TOML syntax, tables,
// keys, every value (settings through applySetting on scratch settings that
// start from `mountDefaults`, bridge values through the bridge parsers),
// paths and their conflicts. True with `out` filled, or false with every
// problem found, by line.
bool parseConfig(const std::string &text, const std::string &file,
                 const PartialSettings &mountDefaults, Config *out,
                 std::vector<ConfigProblem> *problems);

// parseConfig() on the contents of `file`.
bool loadConfig(const std::string &file, const PartialSettings &mountDefaults, Config *out,
                std::vector<ConfigProblem> *problems);

// Splits a checked path into its components.
std::vector<std::string> pathComponents(const std::string &path);

// The settings of a new channel: inherited (mount-wide, then each
// directory's defaults, as resolveSettings() does for any new channel),
// then its own applied in order. 0, or -EINVAL with `why` and the
// refused key in `badKey`.
int channelSettings(const PartialSettings &mountDefaults,
                    const std::vector<const PartialSettings *> &dirDefaults,
                    const std::vector<std::pair<std::string, std::string>> &own, Settings *out,
                    std::string *why, std::string *badKey);

}  // namespace chanfs::fs
