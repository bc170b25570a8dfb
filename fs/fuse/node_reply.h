// The lookups and replies the handlers share: find the node a request
// names, or answer its error; answer a request that makes or finds an
// entry. Each helper that replies releases the table lock first (no reply
// is made while another request thread may need that lock), and a caller
// that got nullptr returns at once: its one reply has been made.
//
// Threading contract: request threads, with `lock` (a shared or exclusive
// lock of fs.inodes) held on entry.
#pragma once

#include <cerrno>
#include <mutex>
#include <shared_mutex>

#include "fs/base/fuse_api.h"
#include "fs/tree/filesystem.h"

namespace chanfs::fs {

// The node `ino`, or nullptr once ENOENT has been answered.
template <class TableLock>
Node *nodeOrReplyEnoent(fuse_req_t req, Filesystem &fs, fuse_ino_t ino, TableLock &lock)
{
    Node *n = fs.inodes.get(ino);
    if (!n) {
        lock.unlock();
        fuse_reply_err(req, ENOENT);
    }
    return n;
}

// The directory `parent` that a new or looked-up name goes in, or nullptr
// with *err: ENOENT (gone, or removed while open), ENOTDIR.
Node *parentDir(Filesystem &fs, fuse_ino_t parent, int *err);

// Answers lookup, mknod, mkdir, symlink with `n` (one more lookup the
// kernel holds), or with `err` when `n` is null. An entry the kernel did
// not take is not counted.
void replyEntry(fuse_req_t req, Filesystem &fs, Node *n, int err,
                std::unique_lock<std::shared_mutex> &lock);

}  // namespace chanfs::fs
