#include "fs/config/config.h"

#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <cpptoml.h>

#include "channels/endpoints/endpoint.h"
#include "fs/config/toml_text.h"

namespace chanfs::fs {

namespace {

using Components = std::vector<std::string>;

constexpr size_t kMaxNameBytes = 255;

// Reads one dotted key ("a", "a.b", "channel.\"x/y\"", 'lit') from `line`
// at `*pos` up to `end`. Only what a header or a `key =` line needs; false
// for anything else (the line is then simply not indexed).
bool readKeyPath(const std::string &line, size_t *pos, char end, Components *parts)
{
    size_t i = *pos;
    auto skipSpace = [&] {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    };
    for (;;) {
        skipSpace();
        if (i >= line.size()) return false;
        std::string part;
        if (line[i] == '"') {
            for (++i;; ++i) {
                if (i >= line.size()) return false;
                const char c = line[i];
                if (c == '"') break;
                if (c != '\\') {
                    part += c;
                    continue;
                }
                if (++i >= line.size()) return false;
                switch (line[i]) {
                case '"': part += '"'; break;
                case '\\': part += '\\'; break;
                case 'n': part += '\n'; break;
                case 't': part += '\t'; break;
                case 'r': part += '\r'; break;
                case 'b': part += '\b'; break;
                case 'f': part += '\f'; break;
                default: return false;  // \u escapes: not worth decoding here
                }
            }
            ++i;
        } else if (line[i] == '\'') {
            const size_t close = line.find('\'', i + 1);
            if (close == std::string::npos) return false;
            part = line.substr(i + 1, close - i - 1);
            i = close + 1;
        } else {
            while (i < line.size() && (std::isalnum(static_cast<unsigned char>(line[i])) ||
                                       line[i] == '_' || line[i] == '-'))
                part += line[i++];
            if (part.empty()) return false;
        }
        parts->push_back(std::move(part));
        skipSpace();
        if (i < line.size() && line[i] == '.') {
            ++i;
            continue;
        }
        if (i < line.size() && line[i] == end) {
            *pos = i + 1;
            return true;
        }
        return false;
    }
}

// Where tables and keys are written. cpptoml keeps no positions for what it
// parsed, so messages about values take their line from this scan of the
// text, which reads table headers and `key =` starts and nothing else: the
// TOML itself is cpptoml's to parse.
class LineIndex {
public:
    explicit LineIndex(const std::string &text)
    {
        std::istringstream in(text);
        std::string line;
        Components table;
        for (int no = 1; std::getline(in, line); ++no) {
            size_t pos = line.find_first_not_of(" \t");
            if (pos == std::string::npos || line[pos] == '#') continue;
            Components parts;
            if (line[pos] == '[') {
                ++pos;
                table.clear();
                if (readKeyPath(line, &pos, ']', &parts)) {
                    headers_.emplace(parts, no);
                    table = std::move(parts);
                }
                continue;
            }
            if (readKeyPath(line, &pos, '=', &parts)) {
                Components where = table;
                where.insert(where.end(), parts.begin(), parts.end() - 1);
                keys_.emplace(std::make_pair(std::move(where), parts.back()), no);
            }
        }
    }

    // The line of table `t`'s header, or of the nearest enclosing one; 0 if
    // none is found.
    int header(Components t) const
    {
        for (;; t.pop_back()) {
            if (auto it = headers_.find(t); it != headers_.end()) return it->second;
            if (t.empty()) return 0;
        }
    }

    // The line of `key` in table `t`: a `key =` line, a [t.key] header, or
    // failing both the table's own header.
    int key(const Components &t, const std::string &key) const
    {
        if (auto it = keys_.find({t, key}); it != keys_.end()) return it->second;
        Components sub = t;
        sub.push_back(key);
        // The first header of a table under it ([t.key."x"]).
        int first = 0;
        for (auto it = headers_.lower_bound(sub);
             it != headers_.end() && it->first.size() >= sub.size() &&
             std::equal(sub.begin(), sub.end(), it->first.begin());
             ++it)
            if (first == 0 || it->second < first) first = it->second;
        return first ? first : header(t);
    }

private:
    std::map<Components, int> headers_;
    std::map<std::pair<Components, std::string>, int> keys_;
};

// cpptoml parses nested arrays and inline tables by recursion, so a file
// of many thousands of `[` overflowed the daemon's stack (found while
// writing config_fuzz). Nothing chanfs reads nests deeper than 2.
constexpr int kMaxNesting = 64;

// The line where brackets and braces outside strings and comments first
// nest deeper than kMaxNesting, or 0.
int tooDeepAt(const std::string &text)
{
    int depth = 0;
    int line = 1;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\n') {
            ++line;
        } else if (c == '#') {
            while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
        } else if (c == '"' || c == '\'') {
            // A string (basic, literal, or either multi-line form): skip
            // to its end, counting lines; escapes only in basic strings.
            const bool multi = text.compare(i, 3, std::string(3, c)) == 0;
            i += multi ? 3 : 1;
            for (; i < text.size(); ++i) {
                if (text[i] == '\n') {
                    ++line;
                    if (!multi) break;
                } else if (c == '"' && text[i] == '\\') {
                    if (i + 1 < text.size() && text[i + 1] == '\n') ++line;
                    ++i;
                } else if (text[i] == c && (!multi || text.compare(i, 3, std::string(3, c)) == 0)) {
                    if (multi) i += 2;
                    break;
                }
            }
        } else if (c == '[' || c == '{') {
            if (++depth > kMaxNesting) return line;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return 0;
}

// Why `path` is not a usable path inside the mount, or "".
std::string badPath(const std::string &path)
{
    if (path.empty()) return "the path is empty (the mount root is [mount])";
    if (path.front() == '/') return "the path must be relative to the mount root";
    if (path.find('\0') != std::string::npos) return "the path contains a NUL byte";
    size_t start = 0;
    for (;;) {
        const size_t slash = path.find('/', start);
        const std::string part = path.substr(start, slash - start);
        if (part.empty()) return "the path has an empty component";
        if (part == "." || part == "..") return "the path may not contain . or ..";
        if (part.size() > kMaxNameBytes) return "a component is longer than 255 bytes";
        if (slash == std::string::npos) return "";
        start = slash + 1;
    }
}

// A setting's value as the text its xattr would carry: strings as they
// are, non-negative integers in decimal. nullopt for anything else.
std::optional<std::string> settingText(const cpptoml::base &v, std::string_view key)
{
    if (auto s = v.as<std::string>()) return s->get();
    if (auto i = v.as<int64_t>(); i && i->get() >= 0) return std::to_string(i->get());
    if (auto b = v.as<bool>(); b && key == "durable") return std::string(b->get() ? "1" : "0");
    return std::nullopt;
}

// The value as written, for messages.
std::string shown(const cpptoml::base &v)
{
    if (auto s = v.as<std::string>()) return tomlString(s->get());
    if (auto i = v.as<int64_t>()) return std::to_string(i->get());
    if (auto b = v.as<bool>()) return b->get() ? "true" : "false";
    if (v.is_table()) return "a table";
    if (v.is_array() || v.is_table_array()) return "an array";
    return "a value of another type";
}

std::optional<uint32_t> lookupId(const std::string &name, bool user)
{
    std::vector<char> buf(16384);
    if (user) {
        passwd pw{}, *res = nullptr;
        if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &res) == 0 && res)
            return pw.pw_uid;
    } else {
        group gr{}, *res = nullptr;
        if (::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &res) == 0 && res)
            return gr.gr_gid;
    }
    return std::nullopt;
}

// The keys a table may hold, for the "unknown key" hint: every setting
// (names.h), mode, owner, group and, for a channel, the endpoint keys.
std::string knownKeysHint(bool isDir)
{
    std::vector<std::string_view> keys(kSettingNames.begin(), kSettingNames.end());
    keys.insert(keys.end(), {"mode", "owner", "group"});
    if (!isDir) keys.insert(keys.end(), kEndpointKeys.begin(), kEndpointKeys.end());
    std::string hint;
    for (size_t i = 0; i < keys.size(); ++i) {
        if (i > 0) hint += i + 1 == keys.size() ? " or " : ", ";
        hint += keys[i];
    }
    return hint;
}

struct Checker {
    const LineIndex &where;
    std::vector<ConfigProblem> &problems;

    void add(int line, std::string message) { problems.push_back({line, std::move(message)}); }

    // Reads the keys of one table into `n`; settings are kept as text and
    // checked later, once every directory's defaults are known.
    void readKeys(const cpptoml::table &t, const Components &table, ConfigNode &n)
    {
        std::map<std::string, std::string> settings;
        std::map<std::string_view, std::string> endpointValues;
        for (const auto &[key, value] : t) {
            const int line = where.key(table, key);
            n.keyLines[key] = line;
            n.written[key] = shown(*value);
            const std::string what = n.table() + " " + key + " = " + shown(*value);
            const bool isSetting = std::find(std::begin(kSettingNames), std::end(kSettingNames),
                                             key) != std::end(kSettingNames);
            if (isSetting) {
                if (auto text = settingText(*value, key))
                    settings[key] = *text;
                else
                    add(line, what + ": expected a string or a non-negative integer");
            } else if (key == "mode") {
                auto s = value->as<std::string>();
                unsigned long m = 0;
                char *end = nullptr;
                if (s && !s->get().empty() && s->get().size() <= 5 &&
                    s->get().find_first_not_of("01234567") == std::string::npos)
                    m = std::strtoul(s->get().c_str(), &end, 8);
                if (!end || m > 07777)
                    add(line,
                        what + ": expected permission bits as an octal string, such as \"0640\"");
                else
                    n.mode = static_cast<mode_t>(m);
            } else if (key == "owner" || key == "group") {
                const bool user = key == "owner";
                std::optional<uint32_t> id;
                if (auto s = value->as<std::string>()) {
                    id = lookupId(s->get(), user);
                    if (!id) {
                        add(line, what + ": no such " + (user ? "user" : "group"));
                        continue;
                    }
                } else if (auto i = value->as<int64_t>();
                           i && i->get() >= 0 && i->get() < int64_t{0xffffffff}) {
                    id = static_cast<uint32_t>(i->get());
                }
                if (!id)
                    add(line, what + ": expected a name or a numeric id");
                else if (user)
                    n.uid = *id;
                else
                    n.gid = *id;
            } else if (const EndpointKind *kind = findEndpointKind(key); kind && !n.isDir) {
                auto s = value->as<std::string>();
                std::string why, outside;
                if (!s)
                    add(line, what + ": expected a string");
                else if (kind->parse(s->get(), &outside, &why) < 0)
                    add(line, what + ": " + why);
                else
                    endpointValues[kind->key] = s->get();
            } else if (value->is_table()) {
                add(line, n.table() + ": unknown key " + key +
                              " (a table); a path with slashes "
                              "is one quoted name, as in [channel.\"a/b\"]");
            } else {
                add(line,
                    n.table() + ": unknown key " + key + "; expected " + knownKeysHint(n.isDir));
            }
        }
        for (std::string_view name : kSettingNames)
            if (auto it = settings.find(std::string(name)); it != settings.end())
                n.settings.emplace_back(it->first, it->second);
        for (const EndpointKind &kind : endpointKinds())
            if (auto it = endpointValues.find(kind.key); it != endpointValues.end())
                n.endpoints.emplace_back(std::string(kind.key), it->second);
    }
};

Components tableOf(const ConfigNode &n)
{
    if (n.isRoot) return {"mount"};
    return {n.isDir ? "dir" : "channel", n.path};
}

}  // namespace

std::string formatProblem(const std::string &file, const ConfigProblem &p)
{
    if (p.line <= 0) return file + ": " + p.message;
    return file + ":" + std::to_string(p.line) + ": " + p.message;
}

std::string ConfigNode::endpoint(std::string_view key) const
{
    for (const auto &[k, v] : endpoints)
        if (k == key) return v;
    return {};
}

int ConfigNode::lineOf(const std::string &key) const
{
    auto it = keyLines.find(key);
    return it == keyLines.end() ? line : it->second;
}

std::string ConfigNode::table() const
{
    if (isRoot) return "[mount]";
    return std::string("[") + (isDir ? "dir." : "channel.") + tomlString(path) + "]";
}

std::vector<std::string> pathComponents(const std::string &path)
{
    std::vector<std::string> parts;
    size_t start = 0;
    while (start <= path.size()) {
        const size_t slash = path.find('/', start);
        parts.push_back(path.substr(start, slash - start));
        if (slash == std::string::npos) break;
        start = slash + 1;
    }
    return parts;
}

int channelSettings(const PartialSettings &mountDefaults,
                    const std::vector<const PartialSettings *> &dirDefaults,
                    const std::vector<std::pair<std::string, std::string>> &own, Settings *out,
                    std::string *why, std::string *badKey)
{
    Settings s = resolveSettings(mountDefaults, dirDefaults);
    for (const auto &[key, value] : own) {
        if (applySetting(&s, key, value, why) < 0) {
            *badKey = key;
            return -EINVAL;
        }
    }
    *out = s;
    return 0;
}

bool parseConfig(const std::string &text, const std::string &file,
                 const PartialSettings &mountDefaults, Config *out,
                 std::vector<ConfigProblem> *problems)
{
    problems->clear();
    if (const int line = tooDeepAt(text)) {
        problems->push_back({line, "TOML syntax: arrays or inline tables nested deeper than " +
                                       std::to_string(kMaxNesting)});
        return false;
    }
    std::shared_ptr<cpptoml::table> top;
    try {
        std::istringstream in(text);
        cpptoml::parser parser{in};
        top = parser.parse();
    } catch (const cpptoml::parse_exception &e) {
        // cpptoml ends its message with " at line N".
        std::string msg = e.what();
        int line = 0;
        if (const size_t at = msg.rfind(" at line "); at != std::string::npos) {
            line = std::atoi(msg.c_str() + at + 9);
            msg.resize(at);
        }
        // Something left open at the end (an array, a table) is reported
        // on the line after the last one: name the last line instead.
        const int lastLine =
            std::max<int>(1, static_cast<int>(std::count(text.begin(), text.end(), '\n') +
                                              (!text.empty() && text.back() != '\n')));
        line = std::clamp(line, 0, lastLine);
        problems->push_back({line, "TOML syntax: " + msg});
        return false;
    }

    const LineIndex where(text);
    Checker check{where, *problems};
    Config cfg;
    cfg.file = file;
    cfg.root.isRoot = true;
    cfg.root.line = where.header({"mount"});
    for (const auto &[name, value] : *top) {
        if (name == "mount" && value->is_table()) {
            check.readKeys(*value->as_table(), {"mount"}, cfg.root);
        } else if (name == "nats" && value->is_table()) {
            for (const auto &[key, v] : *value->as_table()) {
                const int line = where.key({"nats"}, key);
                if (key == "servers") {
                    auto list = v->is_array() ? v->as_array()->get_array_of<std::string>()
                                              : cpptoml::option<std::vector<std::string>>();
                    if (!list || list->empty()) {
                        check.add(line, "[nats] servers: expected a list of nats:// URLs");
                        continue;
                    }
                    for (const std::string &url : *list) {
                        if (std::string bad = checkNatsUrl(url); !bad.empty())
                            check.add(line, "[nats] servers: " + url + ": " + bad);
                        else
                            cfg.nats.servers.push_back(url);
                    }
                    cfg.nats.given |= kNatsServers;
                    continue;
                }
                if (key == "ack_wait") {
                    // As -o nats_ack_wait: whole seconds, 1 to 3600.
                    auto n = v->as<int64_t>();
                    if (!n || n->get() < 1 || n->get() > 3600) {
                        check.add(line, "[nats] ack_wait = " + shown(*v) +
                                            ": expected seconds from 1 to 3600");
                    } else {
                        cfg.nats.ackWaitSeconds = static_cast<unsigned>(n->get());
                        cfg.nats.given |= kNatsAckWait;
                    }
                    continue;
                }
                auto text = v->as<std::string>();
                std::string *field = key == "creds"    ? &cfg.nats.credsFile
                                     : key == "ca"     ? &cfg.nats.caFile
                                     : key == "cert"   ? &cfg.nats.certFile
                                     : key == "key"    ? &cfg.nats.keyFile
                                     : key == "prefix" ? &cfg.nats.prefix
                                                       : nullptr;
                if (!field) {
                    check.add(line, "[nats]: unknown key " + key +
                                        "; expected servers, creds, ca, cert, key, prefix or "
                                        "ack_wait");
                } else if (!text) {
                    check.add(line, "[nats] " + key + ": expected a string");
                } else if (key == "prefix" && !checkNatsPrefix(text->get()).empty()) {
                    check.add(line, "[nats] prefix: " + checkNatsPrefix(text->get()));
                } else if (key != "prefix" && (text->get().empty() || text->get()[0] != '/')) {
                    check.add(line, "[nats] " + key + ": expected an absolute file path");
                } else {
                    *field = text->get();
                    cfg.nats.given |= key == "creds"  ? kNatsCreds
                                      : key == "ca"   ? kNatsCa
                                      : key == "cert" ? kNatsCert
                                      : key == "key"  ? kNatsKey
                                                      : kNatsPrefix;
                }
            }
        } else if ((name == "dir" || name == "channel") && value->is_table()) {
            for (const auto &[path, t] : *value->as_table()) {
                ConfigNode n;
                n.path = path;
                n.isDir = name == "dir";
                n.line = where.key({name}, path);
                if (!t->is_table()) {
                    check.add(n.line, "[" + name + "] " + path + " = " + shown(*t) +
                                          ": expected a table, as in [" + name + ".\"PATH\"]");
                    continue;
                }
                if (const std::string why = badPath(path); !why.empty()) {
                    check.add(n.line, n.table() + ": " + why);
                    continue;
                }
                check.readKeys(*t->as_table(), tableOf(n), n);
                cfg.nodes.push_back(std::move(n));
            }
        } else if (name == "mount" || name == "dir" || name == "channel") {
            check.add(where.key({}, name),
                      name + " = " + shown(*value) + ": expected " +
                          (name == "mount" ? "a table [mount]" : "tables [" + name + ".\"PATH\"]"));
        } else if (value->is_table() || value->is_table_array()) {
            check.add(where.key({}, name), "unknown table [" + name +
                                               "]; expected [mount], [dir.\"PATH\"] or "
                                               "[channel.\"PATH\"]");
        } else {
            check.add(where.key({}, name), "unknown key " + name +
                                               " outside any table; expected [mount], "
                                               "[dir.\"PATH\"] or [channel.\"PATH\"]");
        }
    }

    // Parents before children; then each path against what is above it.
    std::stable_sort(cfg.nodes.begin(), cfg.nodes.end(), [](const auto &a, const auto &b) {
        return pathComponents(a.path) < pathComponents(b.path);
    });
    std::map<std::string, const ConfigNode *> byPath;
    std::set<const ConfigNode *> dropped;
    for (const ConfigNode &n : cfg.nodes) {
        if (auto it = byPath.find(n.path); it != byPath.end()) {
            const ConfigNode &first = n.line < it->second->line ? n : *it->second;
            const ConfigNode &second = &first == &n ? *it->second : n;
            check.add(second.line, second.table() + ": " + tomlString(n.path) +
                                       " is also declared as " + first.table() + " on line " +
                                       std::to_string(first.line));
            dropped.insert(&n);
            continue;
        }
        byPath.emplace(n.path, &n);
        const Components parts = pathComponents(n.path);
        std::string prefix;
        for (size_t i = 0; i + 1 < parts.size(); ++i) {
            prefix += (i ? "/" : "") + parts[i];
            auto it = byPath.find(prefix);
            if (it != byPath.end() && !it->second->isDir) {
                check.add(n.line, n.table() + ": " + tomlString(prefix) + " is a channel (" +
                                      it->second->table() + " on line " +
                                      std::to_string(it->second->line) +
                                      "), so nothing can be inside it");
                dropped.insert(&n);
                break;
            }
        }
    }

    // Directory defaults, then each channel's settings on top of what it
    // inherits: the same steps as setxattr on a directory and a new channel.
    std::map<std::string, PartialSettings> dirDefaults;
    auto applyDefaults = [&](const ConfigNode &n, PartialSettings *d) {
        for (const auto &[key, value] : n.settings) {
            std::string why;
            if (applySetting(d, key, value, &why) < 0)
                check.add(n.lineOf(key),
                          n.table() + " " + key + " = " + n.written.at(key) + ": " + why);
        }
    };
    PartialSettings rootDefaults;
    applyDefaults(cfg.root, &rootDefaults);
    for (const ConfigNode &n : cfg.nodes)
        if (n.isDir && !dropped.count(&n)) applyDefaults(n, &dirDefaults[n.path]);
    for (const ConfigNode &n : cfg.nodes) {
        if (n.isDir || dropped.count(&n)) continue;
        std::vector<const PartialSettings *> chain{&rootDefaults};
        std::string prefix;
        const Components parts = pathComponents(n.path);
        for (size_t i = 0; i + 1 < parts.size(); ++i) {
            prefix += (i ? "/" : "") + parts[i];
            if (auto it = dirDefaults.find(prefix); it != dirDefaults.end())
                chain.push_back(&it->second);
        }
        Settings s;
        std::string why, badKey;
        if (channelSettings(mountDefaults, chain, n.settings, &s, &why, &badKey) < 0) {
            check.add(n.lineOf(badKey),
                      n.table() + " " + badKey + " = " + n.written.at(badKey) + ": " + why);
        }
    }

    if (!problems->empty()) {
        std::stable_sort(problems->begin(), problems->end(),
                         [](const auto &a, const auto &b) { return a.line < b.line; });
        return false;
    }
    *out = std::move(cfg);
    return true;
}

bool loadConfig(const std::string &file, const PartialSettings &mountDefaults, Config *out,
                std::vector<ConfigProblem> *problems)
{
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    if (in) text << in.rdbuf();
    if (!in || in.bad()) {
        problems->assign(1, {0, std::string("cannot read: ") + std::strerror(errno)});
        return false;
    }
    return parseConfig(text.str(), file, mountDefaults, out, problems);
}

}  // namespace chanfs::fs
