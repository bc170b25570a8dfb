// libFuzzer target: the config file parser (fs/config/config.h parseConfig: cpptoml
// and chanfs's own checks). Whatever the bytes, it must return: true with a
// tree that holds together, or false with at least one problem, each with
// a line inside the file (or 0) and a message, printed as FILE:LINE.
// An exception escaping it would end the daemon at mount.

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "channels/base/settings.h"
#include "fs/config/config.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace chanfs;
using chanfs::fuzz::shown;

// Lines as an editor shows them (a final newline starts no new line).
int countLines(const std::string &text)
{
    int n = 0;
    for (size_t i = 0; i < text.size(); ++i)
        if (text[i] == '\n' || i + 1 == text.size()) ++n;
    return std::max(n, 1);
}

void checkConfig(const std::string &text)
{
    const std::string file = "/fuzz/chanfs.toml";
    const int lines = countLines(text);
    fs::Config cfg;
    std::vector<fs::ConfigProblem> problems;
    bool ok = false;
    try {
        ok = fs::parseConfig(text, file, PartialSettings{}, &cfg, &problems);
    } catch (const std::exception &e) {
        FUZZ_CHECK(false,
                   std::string("parseConfig threw: ") + e.what() + " on " + shown(text, 400));
    }
    if (!ok) {
        FUZZ_CHECK(!problems.empty(), "refused without a problem: " + shown(text, 400));
        int last = 0;
        for (const fs::ConfigProblem &p : problems) {
            const std::string where = std::to_string(p.line) + ": " + p.message;
            FUZZ_CHECK(
                p.line >= 0 && p.line <= lines,
                "problem line out of the file (" + std::to_string(lines) + " lines): " + where);
            FUZZ_CHECK(p.line >= last, "problems not in line order: " + where);
            last = p.line;
            FUZZ_CHECK(!p.message.empty(),
                       "a problem without a message on line " + std::to_string(p.line));
            const std::string printed = fs::formatProblem(file, p);
            const std::string prefix =
                p.line > 0 ? file + ":" + std::to_string(p.line) + ": " : file + ": ";
            FUZZ_CHECK(printed.rfind(prefix, 0) == 0, "printed as " + printed);
        }
        return;
    }
    FUZZ_CHECK(problems.empty(), "accepted with problems");
    // An accepted tree: valid relative paths, each declared once, parents
    // first, nothing under a channel, every channel's settings valid.
    std::set<std::string> seen;
    std::map<std::string, bool> isDir;
    std::map<std::string, PartialSettings> dirDefaults;
    PartialSettings rootDefaults;
    for (const auto &[k, v] : cfg.root.settings) {
        std::string why;
        FUZZ_CHECK(applySetting(&rootDefaults, k, v, &why) == 0, "[mount] " + k + ": " + why);
    }
    for (const fs::ConfigNode &n : cfg.nodes) {
        FUZZ_CHECK(
            !n.path.empty() && n.path.front() != '/' && n.path.find('\0') == std::string::npos,
            "accepted path " + shown(n.path));
        FUZZ_CHECK(seen.insert(n.path).second, "declared twice: " + shown(n.path));
        FUZZ_CHECK(n.line >= 0 && n.line <= lines, "node line " + std::to_string(n.line));
        if (n.mode) FUZZ_CHECK(*n.mode <= 07777, "mode " + std::to_string(*n.mode));
        std::vector<const PartialSettings *> chain{&rootDefaults};
        std::string prefix;
        const std::vector<std::string> parts = fs::pathComponents(n.path);
        for (size_t i = 0; i < parts.size(); ++i) {
            FUZZ_CHECK(!parts[i].empty() && parts[i] != "." && parts[i] != "..",
                       "accepted path " + shown(n.path));
            if (i + 1 == parts.size()) break;
            prefix += (i ? "/" : "") + parts[i];
            if (auto it = isDir.find(prefix); it != isDir.end()) {
                FUZZ_CHECK(it->second, "something inside channel " + shown(prefix));
                if (auto d = dirDefaults.find(prefix); d != dirDefaults.end())
                    chain.push_back(&d->second);
            }
        }
        isDir[n.path] = n.isDir;
        if (n.isDir) {
            PartialSettings &d = dirDefaults[n.path];
            for (const auto &[k, v] : n.settings) {
                std::string why;
                FUZZ_CHECK(applySetting(&d, k, v, &why) == 0, n.table() + " " + k + ": " + why);
            }
        } else {
            Settings s;
            std::string why, badKey;
            FUZZ_CHECK(
                fs::channelSettings(PartialSettings{}, chain, n.settings, &s, &why, &badKey) == 0,
                n.table() + " " + badKey + ": " + why);
            FUZZ_CHECK(validate(s, nullptr) == 0, n.table() + ": invalid settings accepted");
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    chanfs::fuzz::quietLogs();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    checkConfig(std::string(reinterpret_cast<const char *>(data), size));
    return 0;
}
