#include "tools/chanctl/commands.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include "fs/config/toml_text.h"
#include "tools/chanctl/entry.h"
#include "tools/chanctl/json.h"
#include "tools/chanctl/table.h"
#include "tools/chanctl/xattr_client.h"

namespace chanctl {

namespace {

// Prints "chanctl: WHAT: PATH: strerror[ (NOTE)]".
void report(std::string_view what, std::string_view path, int err, std::string_view note = {})
{
    std::cerr << "chanctl: " << what << ": " << printable(path) << ": " << std::strerror(err);
    if (!note.empty()) std::cerr << " (" << note << ')';
    std::cerr << '\n';
}

// A short explanation for the errors the contract gives a meaning to.
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
    mode_t old_umask = 0;
    if (options.mode) old_umask = ::umask(0);
    const int fd =
        ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, options.mode.value_or(0666));
    const int open_errno = errno;
    if (options.mode) ::umask(old_umask);

    if (fd < 0) {
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
    // On FUSE, close() carries the flush reply, so its errors are real.
    if (::close(fd) < 0) {
        report("create", path, errno);
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
        const char *context =
            created ? "the channel was created and left in place" : "the channel already existed";
        if (!apply_settings(path, settings, context)) status = 1;
    }
    return status;
}

int run_set(const std::string &path, const SettingsRequest &settings)
{
    return apply_settings(path, settings.in_apply_order(), {}) ? 0 : 1;
}

namespace {

void report_inspect_error(const std::string &path, const InspectError &error)
{
    std::string_view note;
    if (error.err == ENOTSUP) note = "not on a chanfs mount?";
    report(error.what, path, error.err, note);
}

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
        entry.path = path;
        entry.name = path;
        InspectError error;
        if (!inspect(entry, /*follow=*/true, error)) {
            report_inspect_error(path, error);
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

// Appends the entries of `dir` (and, if `recursive`, of its subdirectories,
// each right after its own row, as find(1) does) to `out`. Names are shown
// relative to the directory ls was given.
void collect(const std::string &dir, const std::string &name_prefix, bool recursive,
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
        if (descend) collect(path, shown, recursive, out, status);
    }
}

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
    root.path = dir;
    root.name = dir;
    InspectError error;
    if (!inspect(root, /*follow=*/true, error)) {
        report_inspect_error(dir, error);
        return 1;
    }
    // Like ls(1), a channel given instead of a directory lists itself.
    if (root.type == EntryType::directory) {
        collect(dir, "", recursive, entries, status);
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

namespace {

// Byte counts and counts as TOML integers, everything else as strings.
std::string toml_value(std::string_view value)
{
    const bool number = !value.empty() && value.size() < 19 &&
                        value.find_first_not_of("0123456789") == std::string_view::npos;
    return number ? std::string(value) : chanfs::tomlString(value);
}

std::string user_name(uid_t uid)
{
    std::vector<char> buf(16384);
    passwd pw{}, *res = nullptr;
    if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &res) == 0 && res)
        return chanfs::tomlString(pw.pw_name);
    return std::to_string(uid);
}

std::string group_name(gid_t gid)
{
    std::vector<char> buf(16384);
    group gr{}, *res = nullptr;
    if (::getgrgid_r(gid, &gr, buf.data(), buf.size(), &res) == 0 && res)
        return chanfs::tomlString(gr.gr_name);
    return std::to_string(gid);
}

// One table: the settings the entry carries (a directory: only those set
// on it), its bridges, then mode, owner and group.
void write_table(std::ostream &out, const std::string &header, const Entry &entry,
                 const struct stat &st)
{
    out << '\n' << header << '\n';
    for (const auto key : known_settings()) {
        if (const std::string *value = entry.find(key)) {
            const bool bridge = key == "fifo" || key == "uds";
            out << key << " = " << (bridge ? chanfs::tomlString(*value) : toml_value(*value))
                << '\n';
        }
    }
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    out << "mode = \"" << mode << "\"\n"
        << "owner = " << user_name(st.st_uid) << '\n'
        << "group = " << group_name(st.st_gid) << '\n';
}

}  // namespace

int run_export(const std::string &dir, const std::string &output)
{
    Entry root;
    root.path = dir;
    InspectError error;
    if (!inspect(root, /*follow=*/true, error)) {
        report_inspect_error(dir, error);
        return 1;
    }
    if (root.type != EntryType::directory) {
        report("export", dir, ENOTDIR);
        return 1;
    }
    int status = 0;
    std::vector<Entry> entries;
    collect(dir, "", /*recursive=*/true, entries, status);
    if (status != 0) return status;

    std::ostringstream out;
    out << "# chanfs config file, written by chanctl export.\n"
           "# Use it as STATE_DIR/chanfs.toml or with chanfs -o config=FILE.\n";
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
        report("stat", dir, errno);
        return 1;
    }
    write_table(out, "[mount]", root, st);
    for (const Entry &entry : entries) {
        if (entry.type == EntryType::other) continue;
        if (::lstat(entry.path.c_str(), &st) != 0) {
            if (errno == ENOENT) continue;  // removed meanwhile
            report("stat", entry.path, errno);
            return 1;
        }
        const bool is_dir = entry.type == EntryType::directory;
        write_table(
            out, std::string(is_dir ? "[dir." : "[channel.") + chanfs::tomlString(entry.name) + "]",
            entry, st);
    }

    if (output.empty() || output == "-") {
        std::cout << out.str();
        return 0;
    }
    // Written beside FILE and renamed over it: a reader never sees half a file.
    const std::string tmp = output + ".tmp";
    {
        std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
        file << out.str();
        file.flush();
        if (!file) {
            report("write", tmp, errno ? errno : EIO);
            ::unlink(tmp.c_str());
            return 1;
        }
    }
    if (::rename(tmp.c_str(), output.c_str()) != 0) {
        report("rename", tmp, errno);
        ::unlink(tmp.c_str());
        return 1;
    }
    return 0;
}

namespace {

volatile std::sig_atomic_t g_stop = 0;

void on_stop_signal(int)
{
    g_stop = 1;
}

// Sleeps `seconds` unless SIGINT/SIGTERM arrives first.
void sleep_interruptibly(double seconds)
{
    timespec left{};
    left.tv_sec = static_cast<time_t>(seconds);
    left.tv_nsec = static_cast<long>((seconds - static_cast<double>(left.tv_sec)) * 1e9);
    while (!g_stop && ::nanosleep(&left, &left) != 0 && errno == EINTR) {}
}

uint64_t counter(const Entry &entry, std::string_view key)
{
    const std::string *value = entry.find(key);
    return value ? std::strtoull(value->c_str(), nullptr, 10) : 0;
}

struct Sample {
    uint64_t in = 0;
    uint64_t out = 0;
};

std::string rate_text(double per_second)
{
    char text[32];
    std::snprintf(text, sizeof text, "%.1f", per_second);
    return text;
}

// One refresh: the channels under `dir` with rates against `previous`
// (taken `elapsed_s` ago), which is then replaced by this sample.
void print_top(const TopOptions &options, std::map<std::string, Sample> &previous, double elapsed_s,
               int &status)
{
    std::vector<Entry> entries;
    collect(options.dir, "", /*recursive=*/true, entries, status);
    std::map<std::string, Sample> current;

    static const char *const kHeader[] = {"NAME",  "KIND",    "IN/s",    "OUT/s", "QUEUED",
                                          "BYTES", "READERS", "WRITERS", "DROPS"};
    Table table(std::size(kHeader));
    for (size_t c = 2; c < std::size(kHeader); ++c) table.align_right(c);
    table.add_row(std::vector<std::string>(std::begin(kHeader), std::end(kHeader)));

    std::ostringstream json_text;
    json::Writer writer(json_text);
    writer.begin_array();
    for (const auto &entry : entries) {
        if (entry.type != EntryType::channel) continue;
        const Sample now{counter(entry, "stats.in_messages"), counter(entry, "stats.out_messages")};
        current[entry.name] = now;
        // A channel new since the last sample has no rate yet.
        const auto before = previous.find(entry.name);
        const bool has_rate = before != previous.end() && elapsed_s > 0;
        const double in_rate =
            has_rate ? static_cast<double>(now.in - std::min(now.in, before->second.in)) / elapsed_s
                     : 0;
        const double out_rate =
            has_rate
                ? static_cast<double>(now.out - std::min(now.out, before->second.out)) / elapsed_s
                : 0;
        auto value = [&](std::string_view key) {
            const std::string *v = entry.find(key);
            return v ? *v : std::string("-");
        };
        if (options.json) {
            writer.begin_object();
            writer.key("name");
            writer.string(entry.name);
            writer.key("kind");
            writer.string(value("kind"));
            writer.key("in_per_s");
            has_rate ? writer.integer(std::to_string(static_cast<uint64_t>(in_rate + 0.5)))
                     : writer.string("-");
            writer.key("out_per_s");
            has_rate ? writer.integer(std::to_string(static_cast<uint64_t>(out_rate + 0.5)))
                     : writer.string("-");
            for (const char *key :
                 {"queued_messages", "queued_bytes", "readers", "writers", "drops"}) {
                writer.key(key);
                writer.number_or_string(value(std::string("stats.") + key));
            }
            writer.end_object();
        } else {
            table.add_row({entry.name, value("kind"), has_rate ? rate_text(in_rate) : "-",
                           has_rate ? rate_text(out_rate) : "-", value("stats.queued_messages"),
                           value("stats.queued_bytes"), value("stats.readers"),
                           value("stats.writers"), value("stats.drops")});
        }
    }
    writer.end_array();
    previous = std::move(current);

    if (options.json) {
        writer.finish();
        std::cout << json_text.str();
    } else if (stdout_is_terminal()) {
        // Home, clear, a title line, then the table: a refresh in place.
        char interval[32];
        std::snprintf(interval, sizeof interval, "%g", options.interval_s);
        std::cout << "\x1b[H\x1b[2J"
                  << "chanctl top " << printable(options.dir) << ": every " << interval
                  << " s, Ctrl-C to quit\n\n";
        table.print(std::cout, stdout_style(), /*has_header=*/true);
    } else {
        // Piped: one table per refresh, a blank line between them.
        static bool first = true;
        if (!first) std::cout << '\n';
        first = false;
        table.print(std::cout, stdout_style(), /*has_header=*/true);
    }
    std::cout.flush();
}

}  // namespace

int run_top(const TopOptions &options)
{
    Entry root;
    root.path = options.dir;
    root.name = options.dir;
    InspectError error;
    if (!inspect(root, /*follow=*/true, error)) {
        report_inspect_error(options.dir, error);
        return 1;
    }
    if (root.type != EntryType::directory) {
        report("top", options.dir, ENOTDIR);
        return 1;
    }
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    // No SA_RESTART: the signal cuts the sleep short. Installed even where
    // the shell started us with SIGINT ignored (a background job).
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);

    int status = 0;
    std::map<std::string, Sample> previous;
    std::vector<Entry> first;
    {
        // The first sample only sets the baseline for the rates.
        int ignored = 0;
        collect(options.dir, "", /*recursive=*/true, first, ignored);
        for (const auto &entry : first) {
            if (entry.type == EntryType::channel)
                previous[entry.name] = {counter(entry, "stats.in_messages"),
                                        counter(entry, "stats.out_messages")};
        }
    }
    auto last = std::chrono::steady_clock::now();
    for (unsigned shown = 0; !g_stop && (options.iterations == 0 || shown < options.iterations);
         ++shown) {
        sleep_interruptibly(options.interval_s);
        if (g_stop) break;
        const auto now = std::chrono::steady_clock::now();
        const double elapsed_s = std::chrono::duration<double>(now - last).count();
        last = now;
        print_top(options, previous, elapsed_s, status);
    }
    return status;
}

}  // namespace chanctl
