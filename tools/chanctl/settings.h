// Knowledge of the user.chanfs.* attribute names: which are settings, which
// are stats, the order they are applied and shown in, and the settings a
// user asked for on the command line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "channels/base/names.h"

namespace chanctl {

using chanfs::kAttrPrefix;
using chanfs::kStatsPrefix;

// Short names (without kAttrPrefix) of the settings, then the endpoint keys
// (fifo, uds), as channels/base/names.h declares them: in the order they
// must be applied (kind first, framing right after it, bridges last).
const std::vector<std::string_view> &known_settings();

// Short names of the stats ("stats.readers"...), in display order.
const std::vector<std::string_view> &known_stats();

// One option of create and set: --kind KIND, --durable, --fifo-in PATH.
struct SettingOption {
    std::string name;          // without "--": "max-message", "fifo-in"
    std::string key;           // what it sets: "max_message", "fifo"
    std::string value_prefix;  // an endpoint's mode, "in:"; "" for a setting
    std::string metavar;       // "SIZE", "PATH"; "" for a flag
    std::string_view help;
    bool is_endpoint;
    bool takes_value;
};

// Every setting's option (in names.h order), then every endpoint mode's.
const std::vector<SettingOption> &setting_options();

// The "Settings:" section of `chanctl help create` and `help set`.
std::string settings_help();

// Position of `key` in `known` for sorting; unknown keys rank after all
// known ones (and are then sorted by name by the caller).
size_t rank_of(std::string_view key, const std::vector<std::string_view> &known);

struct Setting {
    std::string key;  // short name, e.g. "capacity" or "fifo"
    std::string value;
};

// Settings requested on the command line. A key given twice keeps its last
// value, as later options usually override earlier ones.
class SettingsRequest {
public:
    void put(std::string key, std::string value);
    bool empty() const { return settings_.empty(); }
    // Known settings in known_settings() order, then any other keys in the
    // order they were given.
    std::vector<Setting> in_apply_order() const;

private:
    std::vector<Setting> settings_;
};

// Parses a `key=value` operand of `chanctl set`. The key is a short name
// (or its option's spelling: `max-message` for `max_message`), or a
// full `user.chanfs.NAME` attribute name, which lets chanctl set keys newer
// than itself. Throws UsageError on anything else, and on an empty value.
Setting parse_assignment(std::string_view arg);

}  // namespace chanctl
