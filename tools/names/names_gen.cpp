// names_gen: writes what the shell and the man pages know about settings,
// stats and endpoint keys from the one table in channels/base/names.h, so
// none of them is spelled twice. Run by meson at build time.
//
//   names_gen fill TEMPLATE OUTPUT   replaces each %NAMES_...% placeholder
//                                    (not @...@: meson's configure_file owns those)
//   names_gen list settings|stats|endpoints   the table as tab-separated rows
//                                    (for tests/packaging/080-names.bats)
//
// Single-threaded; exits 1 (and writes nothing) on an unknown placeholder.
#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "channels/base/names.h"

namespace {

using namespace chanfs;

std::string optionOf(std::string_view settingName)
{
    std::string o(settingName);
    std::replace(o.begin(), o.end(), '_', '-');
    return o;
}

bool takesValue(const SettingName &s)
{
    return s.type != ValueType::Flag;
}

std::string join(const std::vector<std::string> &items, std::string_view sep)
{
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += sep;
        out += items[i];
    }
    return out;
}

// "a, b or c", for prose.
std::string listed(const std::vector<std::string> &items, std::string_view last = " or ")
{
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += i + 1 == items.size() ? std::string(last) : std::string(", ");
        out += items[i];
    }
    return out;
}

// Plain help text as reStructuredText: no markup characters take effect.
std::string rst(std::string_view text)
{
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        const bool endsWord = i + 1 == text.size() || text[i + 1] == ' ';
        if (c == '\\' || c == '*' || c == '`' || c == '|' || (c == '_' && endsWord))
            out.push_back('\\');
        out.push_back(c);
    }
    return out;
}

std::vector<std::string> endpointModes(std::string_view key)
{
    std::vector<std::string> modes;
    for (const EndpointMode &e : kEndpointModes)
        if (e.key == key) modes.emplace_back(e.mode);
    return modes;
}

// --- bash completion -------------------------------------------------------

// Every option of create and set that names a setting or an endpoint.
std::string completionSettingOptions()
{
    std::vector<std::string> o;
    for (const SettingName &s : kSettings) o.push_back("--" + optionOf(s.name));
    for (const EndpointMode &e : kEndpointModes)
        o.push_back("--" + std::string(e.key) + "-" + std::string(e.mode));
    return join(o, " ");
}

// Those of them that take a value, without "--", for an extglob @(...).
std::string completionValueOptions()
{
    std::vector<std::string> o;
    for (const SettingName &s : kSettings)
        if (takesValue(s)) o.push_back(optionOf(s.name));
    for (const EndpointMode &e : kEndpointModes)
        o.push_back(std::string(e.key) + "-" + std::string(e.mode));
    return join(o, "|");
}

// case arms: the fixed values after --KEY and KEY=.
std::string completionValueCases()
{
    std::string out;
    for (const SettingName &s : kSettings) {
        if (s.choices.empty()) continue;
        std::string pattern = std::string(s.name);
        if (takesValue(s)) pattern = "--" + optionOf(s.name) + " | " + pattern;
        out += "        " + pattern + ") echo " + std::string(s.choices) + " ;;\n";
    }
    for (std::string_view key : kEndpointKeys) {
        std::vector<std::string> modes = endpointModes(key);
        for (auto &m : modes) m += ':';
        out += "        " + std::string(key) + ") echo " + join(modes, " ") + " ;;\n";
    }
    if (!out.empty()) out.pop_back();
    return out;
}

// The keys that have fixed values: "--kind | ... | kind | ... | fifo | uds".
std::string completionValueKeys()
{
    std::vector<std::string> options, keys;
    for (const SettingName &s : kSettings) {
        if (s.choices.empty()) continue;
        if (takesValue(s)) options.push_back("--" + optionOf(s.name));
        keys.emplace_back(s.name);
    }
    for (std::string_view key : kEndpointKeys) keys.emplace_back(key);
    options.insert(options.end(), keys.begin(), keys.end());
    return join(options, " | ");
}

// The keys whose value goes on after the completed word (fifo=in:/path).
std::string completionEndpointKeys()
{
    std::vector<std::string> keys(kEndpointKeys.begin(), kEndpointKeys.end());
    return join(keys, "|");
}

// The endpoint options, which take a path.
std::string completionPathOptions()
{
    std::vector<std::string> o;
    for (const EndpointMode &e : kEndpointModes)
        o.push_back("--" + std::string(e.key) + "-" + std::string(e.mode));
    return join(o, " | ");
}

// The settings with free-form values: no guesses after them.
std::string completionFreeValueKeys()
{
    std::vector<std::string> options, keys;
    for (const SettingName &s : kSettings) {
        if (!s.choices.empty()) continue;
        options.push_back("--" + optionOf(s.name));
        keys.emplace_back(s.name);
    }
    options.insert(options.end(), keys.begin(), keys.end());
    return join(options, " | ");
}

// `chanctl set PATH KEY=`: every setting and endpoint key.
std::string completionSetKeys()
{
    std::vector<std::string> keys;
    for (const SettingName &s : kSettings) keys.push_back(std::string(s.name) + "=");
    for (std::string_view key : kEndpointKeys) keys.push_back(std::string(key) + "=");
    return join(keys, " ");
}

// --- man pages ---------------------------------------------------------------

// chanctl(1) SETTINGS: the options of create and set.
std::string manChanctlOptions()
{
    std::string out;
    for (const SettingName &s : kSettings) {
        out += "**--" + optionOf(s.name) + "**";
        if (takesValue(s)) out += " *" + std::string(s.metavar) + "*";
        out += "\n    " + rst(s.help) + "\n\n";
    }
    for (const EndpointMode &e : kEndpointModes)
        out += "**--" + std::string(e.key) + "-" + std::string(e.mode) +
               "** *PATH*\n    Bridge: " + rst(e.help) + "\n\n";
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

// "**fifo** (**in:**\ *PATH* or **out:**\ *PATH*)".
std::string manEndpointValues(std::string_view key)
{
    std::vector<std::string> modes;
    for (const std::string &m : endpointModes(key)) modes.push_back("**" + m + ":**\\ *PATH*");
    return "**" + std::string(key) + "** (" + listed(modes) + ")";
}

// chanctl(1) `set`: "**kind**, **framing**, ..., **uds** (...)".
std::string manSetKeys()
{
    std::vector<std::string> keys;
    for (const SettingName &s : kSettings) keys.push_back("**" + std::string(s.name) + "**");
    for (std::string_view key : kEndpointKeys) keys.push_back(manEndpointValues(key));
    return join(keys, ", ");
}

// chanfs(8) CONFIG FILE: "**kind**, ... and **retention_messages**".
std::string manSettingKeys()
{
    std::vector<std::string> keys;
    for (const SettingName &s : kSettings) keys.push_back("**" + std::string(s.name) + "**");
    return listed(keys, " and ");
}

// "**fifo** and **uds**".
std::string manEndpointKeys()
{
    std::vector<std::string> keys;
    for (std::string_view key : kEndpointKeys) keys.push_back("**" + std::string(key) + "**");
    return listed(keys, " and ");
}

// chanfs(8): the stats a channel lists, as a definition list.
std::string manStats(unsigned shownOn)
{
    std::string out;
    for (const StatName &s : kStats) {
        if (!(s.shownOn & shownOn)) continue;
        out += "**stats." + rst(s.name) + "**\n    " + rst(s.help) + "\n\n";
    }
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

const std::map<std::string, std::string> &placeholders()
{
    static const std::map<std::string, std::string> p = {
        {"%NAMES_COMPLETION_SETTING_OPTIONS%", completionSettingOptions()},
        {"%NAMES_COMPLETION_VALUE_OPTIONS%", completionValueOptions()},
        {"%NAMES_COMPLETION_VALUE_CASES%", completionValueCases()},
        {"%NAMES_COMPLETION_VALUE_KEYS%", completionValueKeys()},
        {"%NAMES_COMPLETION_ENDPOINT_KEYS%", completionEndpointKeys()},
        {"%NAMES_COMPLETION_PATH_OPTIONS%", completionPathOptions()},
        {"%NAMES_COMPLETION_FREE_VALUE_KEYS%", completionFreeValueKeys()},
        {"%NAMES_COMPLETION_SET_KEYS%", completionSetKeys()},
        {"%NAMES_MAN_CHANCTL_OPTIONS%", manChanctlOptions()},
        {"%NAMES_MAN_SET_KEYS%", manSetKeys()},
        {"%NAMES_MAN_SETTING_KEYS%", manSettingKeys()},
        {"%NAMES_MAN_ENDPOINT_KEYS%", manEndpointKeys()},
        {"%NAMES_MAN_CHANNEL_STATS%", manStats(kChannelStat | kDurableStat | kNatsStat)},
        {"%NAMES_MAN_ENDPOINT_STATS%", manStats(kFifoStat | kUdsConnectStat | kUdsListenStat)},
        {"%NAMES_MAN_MOUNT_STATS%", manStats(kMountRootStat)},
    };
    return p;
}

int fill(const char *templatePath, const char *outputPath)
{
    std::ifstream in(templatePath);
    if (!in) {
        std::cerr << "names_gen: cannot read " << templatePath << '\n';
        return 1;
    }
    std::stringstream buf;
    buf << in.rdbuf();
    std::string text = buf.str();
    std::string out;
    for (size_t pos = 0;;) {
        const size_t at = text.find("%NAMES_", pos);
        if (at == std::string::npos) {
            out.append(text, pos);
            break;
        }
        const size_t end = text.find('%', at + 1);
        const std::string name =
            end == std::string::npos ? text.substr(at) : text.substr(at, end + 1 - at);
        const auto it = placeholders().find(name);
        if (it == placeholders().end()) {
            std::cerr << "names_gen: " << templatePath << ": unknown placeholder " << name << '\n';
            return 1;
        }
        out.append(text, pos, at - pos).append(it->second);
        pos = end + 1;
    }
    std::ofstream o(outputPath, std::ios::trunc);
    o << out;
    o.close();
    if (!o) {
        std::cerr << "names_gen: cannot write " << outputPath << '\n';
        return 1;
    }
    return 0;
}

std::string_view typeName(ValueType t)
{
    switch (t) {
    case ValueType::Choice: return "choice";
    case ValueType::Flag: return "flag";
    case ValueType::Size: return "size";
    case ValueType::Count: return "count";
    }
    return "?";
}

int list(std::string_view what)
{
    if (what == "settings") {
        // name, option, type, choices (comma-separated), default
        for (const SettingName &s : kSettings) {
            std::string choices(s.choices);
            std::replace(choices.begin(), choices.end(), ' ', ',');
            std::cout << s.name << "\t--" << optionOf(s.name) << '\t' << typeName(s.type) << '\t'
                      << (choices.empty() ? "-" : choices) << '\t' << s.defaultValue << '\n';
        }
    } else if (what == "stats") {
        // name, where: channel, durable, fifo, uds-connect, uds-listen, mount
        for (const StatName &s : kStats) {
            std::vector<std::string> on;
            if (s.shownOn & kChannelStat) on.push_back("channel");
            if (s.shownOn & kDurableStat) on.push_back("durable");
            if (s.shownOn & kNatsStat) on.push_back("nats");
            if (s.shownOn & kFifoStat) on.push_back("fifo");
            if (s.shownOn & kUdsConnectStat) on.push_back("uds-connect");
            if (s.shownOn & kUdsListenStat) on.push_back("uds-listen");
            if (s.shownOn & kMountRootStat) on.push_back("mount");
            std::cout << s.name << '\t' << join(on, ",") << '\n';
        }
    } else if (what == "endpoints") {
        // key, mode, chanctl option
        for (const EndpointMode &e : kEndpointModes)
            std::cout << e.key << '\t' << e.mode << "\t--" << e.key << '-' << e.mode << '\n';
    } else {
        return 2;
    }
    return 0;
}

}  // namespace

int main(int argc, char **argv)
{
    const std::string_view cmd = argc > 1 ? argv[1] : "";
    if (cmd == "fill" && argc == 4) return fill(argv[2], argv[3]);
    if (cmd == "list" && argc == 3) {
        if (int rc = list(argv[2]); rc != 2) return rc;
    }
    std::cerr << "usage: names_gen fill TEMPLATE OUTPUT | list settings|stats|endpoints\n";
    return 2;
}
