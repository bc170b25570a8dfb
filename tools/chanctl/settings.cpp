#include "tools/chanctl/settings.h"

#include <algorithm>

#include "channels/endpoints/endpoint_keys.h"
#include "tools/chanctl/cli.h"

namespace chanctl {

const std::vector<std::string_view> &known_settings()
{
    static const std::vector<std::string_view> keys = [] {
        std::vector<std::string_view> k = {
            "kind",   "framing", "capacity",        "max_message",        "overflow",
            "replay", "fsync",   "retention_bytes", "retention_messages", "durable",
        };
        k.insert(k.end(), std::begin(chanfs::kEndpointKeys), std::end(chanfs::kEndpointKeys));
        return k;
    }();
    return keys;
}

const std::vector<std::string_view> &known_stats()
{
    static const std::vector<std::string_view> keys = {
        "stats.queued_messages", "stats.queued_bytes",    "stats.readers",
        "stats.writers",         "stats.blocked_readers", "stats.blocked_writers",
        "stats.in_messages",     "stats.in_bytes",        "stats.out_messages",
        "stats.out_bytes",       "stats.drops",           "stats.dropped_bytes",
    };
    // Endpoint stats after the channel's, as "stats.NAME" (stored here: the
    // list hands out views).
    static const std::vector<std::string> endpoint = [] {
        std::vector<std::string> names;
        for (std::string_view n : chanfs::kEndpointStatNames)
            names.push_back("stats." + std::string(n));
        return names;
    }();
    static const std::vector<std::string_view> all = [] {
        std::vector<std::string_view> k = keys;
        k.insert(k.end(), endpoint.begin(), endpoint.end());
        return k;
    }();
    return all;
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

    if (key == "max-message") key = "max_message";
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
            throw UsageError(
                "unknown setting '" + key +
                "' (known: kind, framing, capacity, max_message, overflow, replay, fsync,"
                " retention_bytes, retention_messages, durable, fifo, uds;"
                " other attributes as user.chanfs.NAME=VALUE)");
        }
    }
    return {std::move(key), std::move(value)};
}

}  // namespace chanctl
