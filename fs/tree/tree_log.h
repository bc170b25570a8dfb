// The records of the state directory's tree log (state/tree.log): one per
// change to a directory or channel, in the record format of
// journal_format.h:
//   'N' the whole state of one node (its inode number, parent, name, type,
//       mode, owner, settings and bridges as `user.chanfs.*` key/values)
//   'D' the node with this inode number is gone
//   'H' the inode numbers below this one may have been handed out (written
//       first by each rewrite, so numbers of nodes gone before the rewrite
//       are never handed out again)
// Replaying them in order, the last record of each node wins. Pure
// functions, no FUSE and no I/O: thread-compatible.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "channels/storage/journal_format.h"

namespace chanfs::fs {

inline constexpr char kTreeLogMagic[] = "CHANFST1";

struct TreeRecord {
    uint64_t ino = 0;
    uint64_t parent = 0;
    bool isDir = false;
    uint32_t mode = 0;  // permission bits
    uint32_t uid = 0;
    uint32_t gid = 0;
    std::string name;
    // Settings (channels: all; directories: the defaults set there) and
    // bridges ("fifo", "uds"), as user.chanfs.<key> values.
    std::vector<std::pair<std::string, std::string>> values;

    bool operator==(const TreeRecord &) const = default;
};

void appendNodeRecord(std::string &out, const TreeRecord &r);
void appendDropRecord(std::string &out, uint64_t ino);
void appendHighWaterRecord(std::string &out, uint64_t nextIno);

struct TreeReplay {
    std::map<uint64_t, TreeRecord> nodes;  // by inode number
    size_t records = 0;                    // valid records read
    size_t validEnd = 0;                   // where the file is to be cut
    // Above every inode number the log names or its high-water mark.
    uint64_t nextIno = 0;
    std::vector<std::string> problems;  // damaged tail, malformed records
};

// Reads a whole tree log. Damage ends the replay at the last good record;
// a malformed record that passed its checksum is skipped and reported.
TreeReplay replayTreeLog(std::string_view file);

}  // namespace chanfs::fs
