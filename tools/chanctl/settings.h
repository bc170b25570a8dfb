// Knowledge of the user.chanfs.* attribute names: which are settings, which
// are stats, the order they are applied and shown in, and the settings a
// user asked for on the command line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace chanctl {

inline constexpr std::string_view kAttrPrefix = "user.chanfs.";
inline constexpr std::string_view kStatsPrefix = "stats.";

// Short names (without kAttrPrefix) of the settings chanctl has options for,
// in the order they must be applied: the daemon resets framing when kind
// changes, so kind goes first and framing right after it.
const std::vector<std::string_view> &known_settings();

// Short names of the stats, in display order.
const std::vector<std::string_view> &known_stats();

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
// (`max-message` is accepted for `max_message`, matching the option), or a
// full `user.chanfs.NAME` attribute name, which lets chanctl set keys newer
// than itself. Throws UsageError on anything else, and on an empty value.
Setting parse_assignment(std::string_view arg);

}  // namespace chanctl
