#include "tools/chanctl/entry.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>

#include "tools/chanctl/settings.h"
#include "tools/chanctl/table.h"
#include "tools/chanctl/xattr_client.h"

namespace chanctl {

std::string_view type_name(EntryType type)
{
    switch (type) {
    case EntryType::channel: return "channel";
    case EntryType::directory: return "directory";
    case EntryType::other: return "other";
    }
    return "other";
}

const std::string *Entry::find(std::string_view key) const
{
    const auto &list = key.starts_with(kStatsPrefix) ? stats : settings;
    for (const auto &attr : list) {
        if (attr.key == key) return &attr.value;
    }
    return nullptr;
}

namespace {

void sort_attributes(std::vector<Attribute> &attrs, const std::vector<std::string_view> &known)
{
    std::sort(attrs.begin(), attrs.end(), [&](const Attribute &a, const Attribute &b) {
        const size_t ra = rank_of(a.key, known);
        const size_t rb = rank_of(b.key, known);
        if (ra != rb) return ra < rb;
        return a.key < b.key;
    });
}

// The contract says values carry no trailing NUL or newline; tolerating them
// costs nothing and keeps the tables and JSON clean if a value ever does.
void trim_value(std::string &value)
{
    while (!value.empty() && (value.back() == '\0' || value.back() == '\n')) value.pop_back();
}

// statfs(2) f_type of every FUSE mount (linux/magic.h).
constexpr decltype(statfs::f_type) kFuseSuperMagic = 0x65735546;

}  // namespace

bool inspect(Entry &entry, bool follow, InspectError &error)
{
    struct stat st {};
    const int rc = follow ? ::stat(entry.path.c_str(), &st) : ::lstat(entry.path.c_str(), &st);
    if (rc < 0) {
        error = {"stat", errno};
        return false;
    }
    // Anything off a FUSE mount has no chanfs attributes: say so rather than
    // print an empty entry.
    if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode)) {
        struct statfs fs {};
        if (::statfs(entry.path.c_str(), &fs) == 0 && fs.f_type != kFuseSuperMagic) {
            error = {"stat", ENOTSUP};
            return false;
        }
    }
    // The daemon may show a channel made with mkfifo as a FIFO; it is a
    // channel all the same.
    if (S_ISDIR(st.st_mode)) {
        entry.type = EntryType::directory;
    } else if (S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode)) {
        entry.type = EntryType::channel;
    } else {
        entry.type = EntryType::other;
        return true;
    }

    std::vector<std::string> names;
    if (const int err = xattr::list(entry.path, names); err < 0) {
        error = {"list attributes", -err};
        return false;
    }
    entry.settings.clear();
    entry.stats.clear();
    for (const auto &name : names) {
        if (!name.starts_with(kAttrPrefix)) continue;
        std::string value;
        if (const int err = xattr::get(entry.path, name, value); err < 0) {
            // Listed but gone by the time we asked: a race with a change of
            // settings, not an error worth failing the whole entry for.
            if (err == -ENODATA) continue;
            error = {"read " + name, -err};
            return false;
        }
        trim_value(value);
        std::string key = name.substr(kAttrPrefix.size());
        auto &list = key.starts_with(kStatsPrefix) ? entry.stats : entry.settings;
        list.push_back({std::move(key), std::move(value)});
    }
    sort_attributes(entry.settings, known_settings());
    sort_attributes(entry.stats, known_stats());
    return true;
}

void write_json(json::Writer &writer, const Entry &entry, bool with_name)
{
    writer.begin_object();
    writer.key("path");
    writer.string(entry.path);
    if (with_name) {
        writer.key("name");
        writer.string(entry.name);
    }
    writer.key("type");
    writer.string(type_name(entry.type));
    for (const auto *group : {&entry.settings, &entry.stats}) {
        writer.key(group == &entry.settings ? "settings" : "stats");
        writer.begin_object();
        for (const auto &attr : *group) {
            // Stats are keyed without their "stats." prefix inside "stats",
            // mirroring how settings sit inside "settings".
            std::string_view key = attr.key;
            if (group == &entry.stats) key.remove_prefix(kStatsPrefix.size());
            writer.key(key);
            writer.number_or_string(attr.value);
        }
        writer.end_object();
    }
    writer.end_object();
}

// Prints "chanctl: WHAT: PATH: strerror[ (NOTE)]".
void report(std::string_view what, std::string_view path, int err, std::string_view note)
{
    std::cerr << "chanctl: " << what << ": " << printable(path) << ": " << std::strerror(err);
    if (!note.empty()) std::cerr << " (" << note << ')';
    std::cerr << '\n';
}

void report_inspect_error(const std::string &path, const InspectError &error)
{
    std::string_view note;
    if (error.err == ENOTSUP) note = "not on a chanfs mount?";
    report(error.what, path, error.err, note);
}

bool inspect_operand(const std::string &path, Entry &entry)
{
    entry.path = path;
    entry.name = path;
    InspectError error;
    if (inspect(entry, /*follow=*/true, error)) return true;
    report_inspect_error(path, error);
    return false;
}

namespace {

struct DirCloser {
    void operator()(DIR *dir) const { ::closedir(dir); }
};

std::string join_path(const std::string &dir, const std::string &name)
{
    // Entries of "." are shown as plain relative names, not "./name".
    if (dir == ".") return name;
    if (!dir.empty() && dir.back() == '/') return dir + name;
    return dir + "/" + name;
}

}  // namespace

void collect_entries(const std::string &dir, const std::string &name_prefix, bool recursive,
                     std::vector<Entry> &out, int &status)
{
    std::vector<std::string> names;
    {
        std::unique_ptr<DIR, DirCloser> handle(::opendir(dir.c_str()));
        if (!handle) {
            report("read directory", dir, errno);
            status = 1;
            return;
        }
        for (;;) {
            errno = 0;
            const dirent *d = ::readdir(handle.get());
            if (d == nullptr) {
                if (errno != 0) {
                    report("read directory", dir, errno);
                    status = 1;
                }
                break;
            }
            const std::string_view name = d->d_name;
            if (name == "." || name == "..") continue;
            names.emplace_back(name);
        }
    }
    std::sort(names.begin(), names.end());

    for (const auto &name : names) {
        Entry entry;
        entry.path = join_path(dir, name);
        entry.name = name_prefix.empty() ? name : name_prefix + "/" + name;
        InspectError error;
        if (!inspect(entry, /*follow=*/false, error)) {
            // Removed since readdir: channels come and go, that is no error.
            if (error.err == ENOENT) continue;
            report_inspect_error(entry.path, error);
            status = 1;
            continue;
        }
        const bool descend = recursive && entry.type == EntryType::directory;
        std::string path = entry.path;
        std::string shown = entry.name;
        out.push_back(std::move(entry));
        if (descend) collect_entries(path, shown, recursive, out, status);
    }
}

}  // namespace chanctl
