// What chanctl knows about one path in a mount: its type and every
// user.chanfs.* attribute it carries, split into settings and stats.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tools/chanctl/json.h"

namespace chanctl {

enum class EntryType { channel, directory, other };

// "channel", "directory" or "other", as shown in JSON.
std::string_view type_name(EntryType type);

struct Attribute {
    std::string key;  // without kAttrPrefix, e.g. "kind", "stats.drops"
    std::string value;
};

struct Entry {
    std::string path;  // usable to reach the entry from chanctl's directory
    std::string name;  // as shown by `ls` (relative to the listed directory)
    EntryType type = EntryType::other;
    // Settings in known_settings() order, then unknown ones by name; the
    // same for stats. Attributes are discovered with listxattr, so keys
    // newer than chanctl are included.
    std::vector<Attribute> settings;
    std::vector<Attribute> stats;

    // The value of `key`, or nullptr if the entry does not have it.
    const std::string *find(std::string_view key) const;
};

struct InspectError {
    std::string what;  // the step that failed, for "chanctl: WHAT: PATH: ..."
    int err = 0;       // positive errno
};

// Fills `entry` (type and attributes) for `entry.path`. `follow` selects
// whether a symbolic link is followed (stat) or reported as "other" (ls, so
// recursion never loops). Returns false and fills `error` on failure.
bool inspect(Entry &entry, bool follow, InspectError &error);

// Writes the entry as {"path", ["name",] "type", "settings", "stats"}.
void write_json(json::Writer &writer, const Entry &entry, bool with_name);

// Prints "chanctl: WHAT: PATH: strerror[ (NOTE)]" on stderr.
void report(std::string_view what, std::string_view path, int err, std::string_view note = {});
// The same for a failed inspect(), with a hint when PATH is not on chanfs.
void report_inspect_error(const std::string &path, const InspectError &error);

// An operand of stat, ls or export: `path` inspected with links followed,
// `entry.name` the path as given. Reports a failure and returns false.
bool inspect_operand(const std::string &path, Entry &entry);

// Appends the entries of `dir` (and, if `recursive`, of its subdirectories,
// each right after its own row, as find(1) does) to `out`, sorted by name
// and shown relative to `dir` behind `name_prefix`. Entries removed while
// it reads are skipped; other failures are reported and set `status` to 1.
void collect_entries(const std::string &dir, const std::string &name_prefix, bool recursive,
                     std::vector<Entry> &out, int &status);

}  // namespace chanctl
