// The steps behind mkdir, create and setxattr, shared by their handlers and
// by the config file (config_apply.cpp), so a tree made from the file
// behaves exactly like one made by hand. None of these reply to a request.
#pragma once

#include <cstring>
#include <functional>
#include <string>
#include <string_view>

#include "channels/base/credentials.h"
#include "channels/base/settings.h"
#include "fs/tree/filesystem.h"

namespace chanfs::fs {

inline constexpr size_t kMaxNameBytes = 255;
// A component the kernel passed in (it allows up to 1024 bytes): every op
// that names one refuses an over-long one with ENAMETOOLONG before anything
// else, as ext4 and tmpfs do, so stat or unlink never say "no such file"
// and ln never says "not permitted" about a name that cannot exist.
inline bool nameTooLong(const char *name)
{
    return std::strlen(name) > kMaxNameBytes;
}
// The longest path of an entry inside the mount, "/a/b/c" (PATH_MAX - 1):
// the kernel limits the path one syscall names, not a tree built with
// relative paths, and `find`, `rm -r` or `chanctl ls -r` would fail on it.
inline constexpr size_t kMaxPathBytes = 4095;

// Whether `name` may become an entry in `dir`: 0, or ENAMETOOLONG for a
// name over kMaxNameBytes or a path over kMaxPathBytes (counting
// `belowBytes` more below it: the deepest path inside a directory being
// moved), or, if `counts` (a new entry, not a move), ENOSPC once the tree
// holds max_channels entries. Logs what was refused ("op" names the
// operation). Needs the table lock.
int checkNewEntry(Filesystem &fs, Node &dir, const std::string &name, size_t belowBytes,
                  bool counts, const char *op);

// A new channel's settings in `dir`: mount-wide defaults, then each
// directory's from the root down. Needs the table lock.
Settings newChannelSettings(Filesystem &fs, Node &dir);

// Makes a channel (or directory) `name` in `dir` with exactly these
// permission bits and owner. Needs the table lock held exclusively.
// nullptr with *err (ENAMETOOLONG, EEXIST, ENOSPC, EINVAL: durable without a
// state directory, EIO: its journal cannot be made; ENOSPC, EROFS, EIO: its
// record cannot be saved, and then it is not made) on failure. The new node
// is recorded in the state directory; a durable channel gets a fresh journal.
// `ino` is 0 but when restoring a saved tree (state_store.h), which then
// refills durable channels itself.
Node *makeChannelNode(Filesystem &fs, Node &dir, const std::string &name, mode_t mode, uid_t uid,
                      gid_t gid, const Settings &settings, int *err, fuse_ino_t ino = 0);
Node *makeDirNode(Filesystem &fs, Node &dir, const std::string &name, mode_t mode, uid_t uid,
                  gid_t gid, int *err, fuse_ino_t ino = 0);

// Sets, replaces or (`remove`) removes the endpoint registered under `key`
// (user.chanfs.fifo, user.chanfs.uds, ...) of channel `ino` on behalf of
// `callerUid`; `as` gives the identity that creates and opens the path
// (called only when one is needed). Takes the table lock itself; never
// call with it held. 0 or -errno with `why` (-ENODATA: no such key, or
// nothing to remove); `path` is the channel's path.
int setEndpoint(Filesystem &fs, fuse_ino_t ino, std::string_view key, const std::string &value,
                bool remove, uid_t callerUid, const std::function<Credentials()> &as,
                std::string *path, std::string *why);

// A channel's stats as its file shows them: what its endpoints have queued
// for the file's readers (what socket clients sent) counts like any write
// in the queued and in counters and the last write. Needs the table lock.
ChannelStats fileStats(const Node &n);

}  // namespace chanfs::fs
