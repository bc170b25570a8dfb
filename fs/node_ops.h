// The steps behind mkdir, create and setxattr, shared by their handlers and
// by the config file (config_apply.cpp), so a tree made from the file
// behaves exactly like one made by hand. None of these reply to a request.
#pragma once

#include <functional>
#include <string>

#include "credentials.h"
#include "filesystem.h"
#include "settings.h"

namespace chanfs::fs {

// A new channel's settings in `dir`: mount-wide defaults, then each
// directory's from the root down. Needs the table lock.
Settings newChannelSettings(Filesystem &fs, Node &dir);

// Makes a channel (or directory) `name` in `dir` with exactly these
// permission bits and owner. Needs the table lock held exclusively.
// nullptr with *err (ENAMETOOLONG, EEXIST, EINVAL: durable without a state
// directory, EIO: its journal cannot be made) on failure. The new node is
// recorded in the state directory; a durable channel gets a fresh journal.
// `ino` is 0 but when restoring a saved tree (state_store.h), which then
// refills durable channels itself.
Node *makeChannelNode(Filesystem &fs, Node &dir, const std::string &name, mode_t mode, uid_t uid,
                      gid_t gid, const Settings &settings, int *err, fuse_ino_t ino = 0);
Node *makeDirNode(Filesystem &fs, Node &dir, const std::string &name, mode_t mode, uid_t uid,
                  gid_t gid, int *err, fuse_ino_t ino = 0);

// Sets, replaces or (`remove`) removes the FIFO bridge (user.chanfs.fifo)
// or the uds bridge (user.chanfs.uds) of channel `ino` on behalf of
// `callerUid`; `as` gives the identity that creates and opens the path
// (called only when one is needed). Takes the table lock itself; never
// call with it held. 0 or -errno with `why`; `path` is the channel's path.
int setFifoBridge(Filesystem &fs, fuse_ino_t ino, const std::string &value, bool remove,
                  uid_t callerUid, const std::function<Credentials()> &as, std::string *path,
                  std::string *why);
int setUdsBridge(Filesystem &fs, fuse_ino_t ino, const std::string &value, bool remove,
                 uid_t callerUid, const std::function<Credentials()> &as, std::string *path,
                 std::string *why);

}  // namespace chanfs::fs
