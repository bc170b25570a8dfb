#include "channels/storage/tree_replica.h"

#include <cerrno>
#include <charconv>

namespace chanfs {

namespace {

constexpr std::string_view kMagic = "chanfs-tree 1";

bool plainKeyByte(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

int hexValue(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool parseU64(std::string_view s, uint64_t *out, int base = 10)
{
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, base);
    return ec == std::errc() && p == s.data() + s.size();
}

bool hasNewline(std::string_view s)
{
    return s.find('\n') != std::string_view::npos;
}

}  // namespace

std::string encodeTreeRecord(const TreeNodeRecord &r)
{
    std::string out(kMagic);
    out += '\n';
    auto line = [&out](std::string_view k, std::string_view v) {
        out.append(k).push_back(' ');
        out.append(v).push_back('\n');
    };
    line("path", r.path);
    line("origin", r.origin);
    line("seq", std::to_string(r.seq));
    if (r.removed) {
        line("removed", "1");
        return out;
    }
    line("type", r.type == TreeNodeType::Dir ? "dir" : "channel");
    char mode[16];
    auto [end, ec] = std::to_chars(mode, mode + sizeof mode, r.mode & 07777, 8);
    (void)ec;
    line("mode", std::string_view(mode, static_cast<size_t>(end - mode)));
    line("uid", std::to_string(r.uid));
    line("gid", std::to_string(r.gid));
    if (!r.movedFrom.empty()) line("moved_from", r.movedFrom);
    for (const auto &[k, v] : r.settings) {
        // Settings values are single words; one with a newline would break
        // the format and is left out (no setting accepts one).
        if (hasNewline(k) || hasNewline(v) || k.find(' ') != std::string::npos) continue;
        out.append("set ").append(k).push_back(' ');
        out.append(v).push_back('\n');
    }
    return out;
}

int decodeTreeRecord(std::string_view text, TreeNodeRecord *out, std::string *why)
{
    TreeNodeRecord r;
    size_t pos = 0;
    bool first = true, haveType = false;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        const std::string_view line = text.substr(pos, nl - pos);
        pos = nl + 1;
        if (first) {
            if (line != kMagic) {
                *why = "not a chanfs tree record";
                return -EINVAL;
            }
            first = false;
            continue;
        }
        const size_t sp = line.find(' ');
        const std::string_view key = line.substr(0, sp);
        const std::string_view val = sp == std::string_view::npos ? "" : line.substr(sp + 1);
        uint64_t v = 0;
        if (key == "path") {
            r.path = val;
        } else if (key == "origin") {
            r.origin = val;
        } else if (key == "seq") {
            if (!parseU64(val, &r.seq)) {
                *why = "bad seq";
                return -EINVAL;
            }
        } else if (key == "removed") {
            r.removed = val == "1";
        } else if (key == "type") {
            if (val != "dir" && val != "channel") {
                *why = "bad type '" + std::string(val) + "'";
                return -EINVAL;
            }
            r.type = val == "dir" ? TreeNodeType::Dir : TreeNodeType::Channel;
            haveType = true;
        } else if (key == "mode") {
            if (!parseU64(val, &v, 8) || v > 07777) {
                *why = "bad mode";
                return -EINVAL;
            }
            r.mode = static_cast<uint32_t>(v);
        } else if (key == "uid" || key == "gid") {
            if (!parseU64(val, &v) || v > UINT32_MAX) {
                *why = "bad " + std::string(key);
                return -EINVAL;
            }
            (key == "uid" ? r.uid : r.gid) = static_cast<uint32_t>(v);
        } else if (key == "moved_from") {
            r.movedFrom = val;
        } else if (key == "set") {
            const size_t sp2 = val.find(' ');
            if (sp2 == std::string_view::npos || sp2 == 0) {
                *why = "bad setting line";
                return -EINVAL;
            }
            r.settings.emplace_back(val.substr(0, sp2), val.substr(sp2 + 1));
        }
        // Unknown keys are skipped: a later version may add some.
    }
    if (first || r.path.empty() || r.path[0] != '/' || (!r.removed && !haveType)) {
        *why = first ? "empty record" : "a record without a path or a type";
        return -EINVAL;
    }
    *out = std::move(r);
    return 0;
}

std::string treeKeyOf(std::string_view path)
{
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string key;
    size_t pos = 0;
    while (pos < path.size()) {
        if (path[pos] == '/') {
            ++pos;
            continue;
        }
        size_t end = path.find('/', pos);
        if (end == std::string_view::npos) end = path.size();
        if (!key.empty()) key.push_back('.');
        for (size_t i = pos; i < end; ++i) {
            const char c = path[i];
            if (plainKeyByte(c)) {
                key.push_back(c);
            } else {
                const auto b = static_cast<unsigned char>(c);
                key.push_back('=');
                key.push_back(kHex[b >> 4]);
                key.push_back(kHex[b & 15]);
            }
        }
        pos = end;
    }
    return key;
}

std::optional<std::string> treePathOfKey(std::string_view key)
{
    if (key.empty()) return std::nullopt;
    std::string path = "/";
    for (size_t i = 0; i < key.size(); ++i) {
        const char c = key[i];
        if (c == '.') {
            if (path.back() == '/') return std::nullopt;  // an empty token
            path.push_back('/');
        } else if (c == '=') {
            if (i + 2 >= key.size()) return std::nullopt;
            const int hi = hexValue(key[i + 1]), lo = hexValue(key[i + 2]);
            // A name never holds '/' or NUL.
            if (hi < 0 || lo < 0 || hi * 16 + lo == '/' || hi * 16 + lo == 0) return std::nullopt;
            path.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (plainKeyByte(c)) {
            path.push_back(c);
        } else {
            return std::nullopt;
        }
    }
    if (path.back() == '/') return std::nullopt;
    return path;
}

}  // namespace chanfs
