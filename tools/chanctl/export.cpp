// chanctl export: a mount's tree as a chanfs config file (commands.h).
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "fs/config/toml_text.h"
#include "tools/chanctl/commands.h"
#include "tools/chanctl/entry.h"

namespace chanctl {

namespace {

// Byte counts and counts as TOML integers, everything else as strings.
std::string toml_value(std::string_view value)
{
    const bool number = !value.empty() && value.size() < 19 &&
                        value.find_first_not_of("0123456789") == std::string_view::npos;
    return number ? std::string(value) : chanfs::tomlString(value);
}

// A user's or group's name as a TOML string, or its number if the system
// has no name for it.
template <typename Id, typename Record>
std::string account_name(Id id, int (*lookup)(Id, Record *, char *, size_t, Record **),
                         char *Record::*name)
{
    std::vector<char> buf(16384);
    Record record{}, *found = nullptr;
    if (lookup(id, &record, buf.data(), buf.size(), &found) == 0 && found)
        return chanfs::tomlString(record.*name);
    return std::to_string(id);
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
        << "owner = " << account_name(st.st_uid, ::getpwuid_r, &passwd::pw_name) << '\n'
        << "group = " << account_name(st.st_gid, ::getgrgid_r, &group::gr_name) << '\n';
}

}  // namespace

int run_export(const std::string &dir, const std::string &output)
{
    Entry root;
    if (!inspect_operand(dir, root)) return 1;
    if (root.type != EntryType::directory) {
        report("export", dir, ENOTDIR);
        return 1;
    }
    int status = 0;
    std::vector<Entry> entries;
    collect_entries(dir, "", /*recursive=*/true, entries, status);
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

}  // namespace chanctl
