#include "tools/chanctl/settings.h"

#include <algorithm>

#include "tools/chanctl/cli.h"

namespace chanctl {

const std::vector<std::string_view> &known_settings()
{
    static const std::vector<std::string_view> keys = [] {
        std::vector<std::string_view> k(chanfs::kSettingNames.begin(), chanfs::kSettingNames.end());
        k.insert(k.end(), chanfs::kEndpointKeys.begin(), chanfs::kEndpointKeys.end());
        return k;
    }();
    return keys;
}

const std::vector<std::string_view> &known_stats()
{
    static const std::vector<std::string> storage = [] {
        std::vector<std::string> k;
        for (const chanfs::StatName &s : chanfs::kStats)
            k.push_back(std::string(kStatsPrefix) + std::string(s.name));
        return k;
    }();
    static const std::vector<std::string_view> keys(storage.begin(), storage.end());
    return keys;
}

const std::vector<SettingOption> &setting_options()
{
    static const std::vector<SettingOption> options = [] {
        std::vector<SettingOption> o;
        for (const chanfs::SettingName &s : chanfs::kSettings) {
            std::string name(s.name);
            std::replace(name.begin(), name.end(), '_', '-');  // max-message, retention-bytes
            const bool flag = s.type == chanfs::ValueType::Flag;
            o.push_back({std::move(name), std::string(s.name), "", std::string(s.metavar), s.help,
                         false, !flag});
        }
        for (const chanfs::EndpointMode &e : chanfs::kEndpointModes)
            o.push_back({std::string(e.key) + "-" + std::string(e.mode), std::string(e.key),
                         std::string(e.mode) + ":", "PATH", e.help, true, true});
        return o;
    }();
    return options;
}

std::string settings_help()
{
    std::string out =
        "Settings (values are checked by the chanfs daemon, which logs why it refuses one):\n";
    for (const SettingOption &o : setting_options()) {
        std::string option = "--" + o.name;
        if (o.takes_value) option += " " + o.metavar;
        out +=
            chanfs::optionHelp(option, o.is_endpoint ? "bridge: " + std::string(o.help) : o.help);
    }
    out += "Settings are applied kind first, then framing, then the others, bridges last.\n";
    return out;
}

size_t rank_of(std::string_view key, const std::vector<std::string_view> &known)
{
    const auto it = std::find(known.begin(), known.end(), key);
    return static_cast<size_t>(it - known.begin());
}

void SettingsRequest::put(std::string key, std::string value)
{
    for (auto &s : settings_) {
        if (s.key == key) {
            s.value = std::move(value);
            return;
        }
    }
    settings_.push_back({std::move(key), std::move(value)});
}

std::vector<Setting> SettingsRequest::in_apply_order() const
{
    std::vector<Setting> ordered = settings_;
    const auto &known = known_settings();
    std::stable_sort(ordered.begin(), ordered.end(), [&](const Setting &a, const Setting &b) {
        return rank_of(a.key, known) < rank_of(b.key, known);
    });
    return ordered;
}

Setting parse_assignment(std::string_view arg)
{
    const size_t eq = arg.find('=');
    if (eq == std::string_view::npos) {
        throw UsageError("expected KEY=VALUE, got '" + std::string(arg) + "'");
    }
    std::string key(arg.substr(0, eq));
    std::string value(arg.substr(eq + 1));
    if (key.empty()) throw UsageError("missing key in '" + std::string(arg) + "'");
    if (value.empty()) throw UsageError("empty value for '" + key + "'");

    // The option's spelling names the setting too (max-message, retention-bytes).
    for (const SettingOption &o : setting_options())
        if (!o.is_endpoint && o.name == key) key = o.key;
    const bool full_name = key.starts_with(kAttrPrefix);
    if (full_name) key.erase(0, kAttrPrefix.size());
    if (key.starts_with(kStatsPrefix)) throw UsageError("'" + key + "' is a read-only statistic");
    if (full_name) {
        if (key.empty()) throw UsageError("missing key in '" + std::string(arg) + "'");
    } else {
        // Short names are checked so a typo is a usage error rather than
        // an attribute the daemon refuses after other settings were applied.
        const auto &known = known_settings();
        if (std::find(known.begin(), known.end(), key) == known.end()) {
            std::string names;
            for (const auto name : known) {
                if (!names.empty()) names += ", ";
                names += name;
            }
            throw UsageError("unknown setting '" + key + "' (known: " + names +
                             "; other attributes as user.chanfs.NAME=VALUE)");
        }
    }
    return {std::move(key), std::move(value)};
}

}  // namespace chanctl
