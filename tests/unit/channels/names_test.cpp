// channels/base/names.h: the one table of setting, stat and endpoint names
// agrees with the settings code (every name parses, formats and clears; the
// defaults and choices it states are the real ones) and with itself.
#include "channels/base/names.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "channels/base/settings.h"

namespace chanfs {
namespace {

std::vector<std::string> choicesOf(const SettingName &s)
{
    std::vector<std::string> out;
    std::istringstream in{std::string(s.choices)};
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

TEST(Names, EverySettingIsKnownToTheSettingsCode)
{
    for (const SettingName &s : kSettings) {
        SCOPED_TRACE(std::string(s.name));
        const Settings fresh;
        EXPECT_EQ(formatSetting(fresh, s.name), std::string(s.defaultValue));
        Settings full;
        std::string why;
        EXPECT_EQ(applySetting(&full, s.name, s.defaultValue, &why), 0) << why;
        PartialSettings partial;
        EXPECT_EQ(applySetting(&partial, s.name, s.defaultValue, &why), 0) << why;
        EXPECT_EQ(formatSetting(partial, s.name), std::string(s.defaultValue));
        EXPECT_EQ(clearSetting(&partial, s.name), 0);
        EXPECT_TRUE(partial.empty());
    }
}

TEST(Names, ChoicesAreExactlyTheValuesAccepted)
{
    for (const SettingName &s : kSettings) {
        SCOPED_TRACE(std::string(s.name));
        const std::vector<std::string> choices = choicesOf(s);
        const bool fixed = s.type == ValueType::Choice || s.type == ValueType::Flag;
        EXPECT_EQ(!choices.empty(), fixed);
        EXPECT_EQ(s.metavar.empty(), s.type == ValueType::Flag);
        for (const std::string &c : choices) {
            Settings st;
            std::string why;
            // backend=nats is for queues and topics (a pipe refuses it).
            st.kind = Kind::Queue;
            EXPECT_EQ(applySetting(&st, s.name, c, &why), 0) << c << ": " << why;
            EXPECT_EQ(formatSetting(st, s.name), c);
            // The help line names every choice, so it cannot drift from them.
            if (s.type == ValueType::Choice) {
                EXPECT_NE(s.help.find(c), std::string_view::npos) << c << " not in the help";
            }
        }
        if (fixed) {
            Settings st;
            std::string why;
            EXPECT_EQ(applySetting(&st, s.name, "no-such-value", &why), -EINVAL);
        }
        EXPECT_FALSE(s.help.empty());
        EXPECT_EQ(s.help.find('\n'), std::string_view::npos) << "help is one line";
    }
}

TEST(Names, SettingNamesFollowTheTable)
{
    ASSERT_EQ(kSettingNames.size(), std::size(kSettings));
    for (size_t i = 0; i < kSettingNames.size(); ++i) {
        EXPECT_EQ(kSettingNames[i], kSettings[i].name);
        EXPECT_EQ(findSetting(kSettings[i].name), &kSettings[i]);
    }
    EXPECT_EQ(findSetting("fifo"), nullptr);
    // The daemon resets framing when kind changes: kind first, framing next.
    EXPECT_EQ(kSettingNames[0], "kind");
    EXPECT_EQ(kSettingNames[1], "framing");
    Settings st;
    EXPECT_EQ(applySetting(&st, "no_such_setting", "1", nullptr), -ENODATA);
}

TEST(Names, EveryNameIsUniqueAcrossSettingsStatsAndEndpoints)
{
    std::set<std::string_view> seen;
    for (const SettingName &s : kSettings) EXPECT_TRUE(seen.insert(s.name).second) << s.name;
    for (std::string_view k : kEndpointKeys) EXPECT_TRUE(seen.insert(k).second) << k;
    std::set<std::string_view> stats;
    for (const StatName &s : kStats) {
        EXPECT_TRUE(stats.insert(s.name).second) << s.name;
        EXPECT_NE(s.shownOn, 0u) << s.name;
        EXPECT_FALSE(s.help.empty()) << s.name;
    }
    std::set<std::string_view> mountOptions;
    for (const SettingName &s : kSettings)
        if (!s.mountOption.empty()) {
            EXPECT_TRUE(mountOptions.insert(s.mountOption).second) << s.mountOption;
        }
}

TEST(Names, EndpointKeysAreEachListedOnceWithTheirModesTogether)
{
    std::set<std::string_view> keys;
    for (const EndpointMode &e : kEndpointModes) keys.insert(e.key);
    EXPECT_EQ(keys.size(), kEndpointKeys.size()) << "a key's modes must be next to each other";
    for (std::string_view k : kEndpointKeys) {
        EXPECT_TRUE(keys.count(k)) << k;
        EXPECT_TRUE(isEndpointKey(k));
    }
    EXPECT_FALSE(isEndpointKey("kind"));
    // Every endpoint mode's stats exist in kStats.
    for (const EndpointMode &e : kEndpointModes) {
        bool any = false;
        for (const StatName &s : kStats) any = any || (s.shownOn & e.stats);
        EXPECT_TRUE(any) << e.key << "=" << e.mode;
    }
}

TEST(Names, OptionHelpWrapsAtTheWidthAndIndentsContinuations)
{
    const std::string text =
        optionHelp("--kind KIND", "one two three four five six seven eight nine ten", 15, 30);
    EXPECT_EQ(text,
              "  --kind KIND  one two three\n"
              "               four five six\n"
              "               seven eight\n"
              "               nine ten\n");
    // An option longer than the column gets two spaces, then its help.
    EXPECT_EQ(optionHelp("--a-very-long-option", "x", 10, 79), "  --a-very-long-option  x\n");
}

}  // namespace
}  // namespace chanfs
