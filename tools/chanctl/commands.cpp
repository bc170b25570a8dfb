// chanctl create, set, stat and ls (commands.h).
#include "tools/chanctl/commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "tools/chanctl/entry.h"
#include "tools/chanctl/json.h"
#include "tools/chanctl/table.h"
#include "tools/chanctl/xattr_client.h"

namespace chanctl {

namespace {

std::string_view hint_for_set(int err)
{
    switch (err) {
    case EINVAL: return "chanfs refused the value; its log says why";
    case EBUSY: return "kind and framing cannot change while the channel is open";
    case EPERM: return "only the owner or root may change settings";
    case ENOTSUP: return "not on a chanfs mount?";
    default: return {};
    }
}

std::string join_keys(const std::vector<Setting> &settings, size_t from, size_t to)
{
    if (from >= to) return "none";
    std::string out;
    for (size_t i = from; i < to; ++i) {
        if (!out.empty()) out += ", ";
        out += settings[i].key;
    }
    return out;
}

// Applies settings in order and stops at the first failure: later settings
// may depend on earlier ones (framing is only meaningful after kind).
// `context` says what state the path was left in, for the error message.
bool apply_settings(const std::string &path, const std::vector<Setting> &settings,
                    std::string_view context)
{
    for (size_t i = 0; i < settings.size(); ++i) {
        const Setting &s = settings[i];
        const int err = xattr::set(path, std::string(kAttrPrefix) + s.key, s.value);
        if (err == 0) continue;

        report("set " + printable(s.key) + "=" + printable(s.value), path, -err,
               hint_for_set(-err));
        // A second line says what state the path was left in: setting
        // attributes one by one is not atomic, and the user has to know.
        std::string state(context);
        if (settings.size() > 1) {
            if (!state.empty()) state += "; ";
            state += "applied: " + join_keys(settings, 0, i) +
                     "; not applied: " + join_keys(settings, i, settings.size());
        }
        if (!state.empty()) std::cerr << "chanctl: " << printable(path) << ": " << state << '\n';
        return false;
    }
    return true;
}

// Creates the channel file. Sets `created` to false when it already existed
// and `exist_ok` allows that.
bool create_channel(const std::string &path, const CreateOptions &options, bool &created)
{
    // Like mkfifo -m, an explicit mode is exact, so umask is lifted around
    // the open (chanctl is single-threaded, so nothing else sees it).
    // mknod, not open(O_CREAT): chanfs refuses an open that would create a
    // pipe in a backend=nats directory (the opener could not use it), while
    // a name made by mknod is only given its kind by the settings below.
    mode_t old_umask = 0;
    if (options.mode) old_umask = ::umask(0);
    const int rc = ::mknod(path.c_str(), S_IFREG | options.mode.value_or(0666), 0);
    const int open_errno = errno;
    if (options.mode) ::umask(old_umask);

    if (rc < 0) {
        if (open_errno == EEXIST && options.exist_ok) {
            struct stat st {};
            if (::stat(path.c_str(), &st) == 0) {
                // Only an existing channel satisfies "create"; a directory
                // of the same name does not.
                if (S_ISDIR(st.st_mode)) {
                    report("create", path, EISDIR);
                    return false;
                }
                created = false;
                return true;
            }
        }
        report("create", path, open_errno);
        return false;
    }
    created = true;
    return true;
}

}  // namespace

int run_create(const CreateOptions &options)
{
    const std::vector<Setting> settings = options.settings.in_apply_order();
    int status = 0;
    // Like mkdir, one failing path does not stop the others.
    for (const auto &path : options.paths) {
        bool created = false;
        if (!create_channel(path, options, created)) {
            status = 1;
            continue;
        }
        if (!created) {
            if (!apply_settings(path, settings, "the channel already existed")) status = 1;
            continue;
        }
        // A create whose settings were refused leaves nothing behind: the
        // channel it made goes again (nobody was told it exists).
        if (!apply_settings(path, settings, "the channel it made is removed again")) {
            status = 1;
            if (::unlink(path.c_str()) < 0) report("remove the channel it made", path, errno);
        }
    }
    return status;
}

int run_set(const std::string &path, const SettingsRequest &settings)
{
    return apply_settings(path, settings.in_apply_order(), {}) ? 0 : 1;
}
namespace {

void print_stat_table(const Entry &entry)
{
    Table table(2);
    table.add_row({"path", entry.path});
    table.add_row({"type", std::string(type_name(entry.type))});
    for (const auto &attr : entry.settings) table.add_row({attr.key, attr.value});
    for (const auto &attr : entry.stats) table.add_row({attr.key, attr.value});
    table.print(std::cout, stdout_style());
}

}  // namespace

int run_stat(const std::vector<std::string> &paths, bool json)
{
    int status = 0;
    std::vector<Entry> entries;
    size_t tables = 0;
    for (const auto &path : paths) {
        Entry entry;
        if (!inspect_operand(path, entry)) {
            status = 1;
            continue;
        }
        if (json) {
            entries.push_back(std::move(entry));
        } else {
            // Printed as we go, so errors on stderr show up next to the
            // path they are about.
            if (tables++ > 0) std::cout << '\n';
            print_stat_table(entry);
        }
    }

    if (json) {
        // The shape depends on what was asked, not on what succeeded, so a
        // script asking for several paths always gets an array.
        const bool array = paths.size() > 1;
        if (!array && entries.empty()) return status;
        json::Writer writer(std::cout);
        if (array) writer.begin_array();
        for (const auto &entry : entries) write_json(writer, entry, /*with_name=*/false);
        if (array) writer.end_array();
        writer.finish();
    }
    return status;
}

namespace {

std::string_view ls_type(EntryType type)
{
    return type == EntryType::directory ? "dir" : type_name(type);
}

void print_ls_table(const std::vector<Entry> &entries)
{
    static const char *const kColumns[][2] = {
        // header, attribute key; empty key: not from an attribute
        {"NAME", ""},
        {"TYPE", ""},
        {"KIND", "kind"},
        {"FRAMING", "framing"},
        {"QUEUED", "stats.queued_messages"},
        {"BYTES", "stats.queued_bytes"},
        {"READERS", "stats.readers"},
        {"WRITERS", "stats.writers"},
    };
    constexpr size_t kCount = std::size(kColumns);
    Table table(kCount);
    for (size_t c = 4; c < kCount; ++c) table.align_right(c);

    std::vector<std::string> header;
    for (const auto &column : kColumns) header.emplace_back(column[0]);
    table.add_row(std::move(header));

    for (const auto &entry : entries) {
        std::vector<std::string> row{entry.name, std::string(ls_type(entry.type))};
        for (size_t c = 2; c < kCount; ++c) {
            // "-": not set (a directory default) or not reported.
            const std::string *value = entry.find(kColumns[c][1]);
            row.push_back(value ? *value : "-");
        }
        table.add_row(std::move(row));
    }
    table.print(std::cout, stdout_style(), /*has_header=*/true);
}

}  // namespace

int run_ls(const std::string &dir, bool json, bool recursive)
{
    int status = 0;
    std::vector<Entry> entries;

    Entry root;
    if (!inspect_operand(dir, root)) return 1;
    // Like ls(1), a channel given instead of a directory lists itself.
    if (root.type == EntryType::directory) {
        collect_entries(dir, "", recursive, entries, status);
    } else {
        entries.push_back(std::move(root));
    }

    if (json) {
        json::Writer writer(std::cout);
        writer.begin_array();
        for (const auto &entry : entries) write_json(writer, entry, /*with_name=*/true);
        writer.end_array();
        writer.finish();
    } else {
        print_ls_table(entries);
    }
    return status;
}

}  // namespace chanctl
