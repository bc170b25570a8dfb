// The FUSE low-level handlers, one file per group (op_*.cpp), wired in
// ops.cpp. Every handler is noexcept and ends in exactly one fuse_reply_*
// (or hands the request to a channel, which replies exactly once).
#pragma once

#include <fcntl.h>
#include <sys/types.h>

#include "fs/base/fuse_api.h"

namespace chanfs::fs {

// What an open(2) or creat(2) makes of the file, from its flags. Linux's
// access mode 3 (O_ACCMODE: neither read(2) nor write(2) allowed) opens a
// watcher: neither reader nor writer, it polls readable on every change of
// the channel's queued messages, readers and writers (Channel::poll), which
// is how `chanctl wait` blocks without changing what it waits for.
struct OpenMode {
    bool reads;
    bool writes;
    bool watches() const { return !reads && !writes; }
};
inline OpenMode openModeOf(int flags)
{
    const int acc = flags & O_ACCMODE;
    if (acc == O_ACCMODE) return {false, false};
    return {acc != O_WRONLY, acc != O_RDONLY};
}

struct Filesystem;

const fuse_lowlevel_ops &operations();

void opInit(void *userdata, fuse_conn_info *conn) noexcept;
void opLookup(fuse_req_t req, fuse_ino_t parent, const char *name) noexcept;
void opForget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) noexcept;
void opForgetMulti(fuse_req_t req, size_t count, fuse_forget_data *forgets) noexcept;
void opGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi) noexcept;
void opSetattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int toSet,
               fuse_file_info *fi) noexcept;
void opMknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev) noexcept;
void opMkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) noexcept;
void opCreate(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
              fuse_file_info *fi) noexcept;
void opUnlink(fuse_req_t req, fuse_ino_t parent, const char *name) noexcept;
void opRmdir(fuse_req_t req, fuse_ino_t parent, const char *name) noexcept;
void opRename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
              const char *newname, unsigned int flags) noexcept;
void opLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) noexcept;
void opSymlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name) noexcept;
void opOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi) noexcept;
void opRelease(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi) noexcept;
void opFlush(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi) noexcept;
void opFsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info *fi) noexcept;
void opRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info *fi) noexcept;
void opWrite(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
             fuse_file_info *fi) noexcept;
void opPoll(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi, fuse_pollhandle *ph) noexcept;
void opOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi) noexcept;
void opReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info *fi) noexcept;
void opReleasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi) noexcept;
void opStatfs(fuse_req_t req, fuse_ino_t ino) noexcept;
void opSetxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
                int flags) noexcept;
void opGetxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size) noexcept;
void opListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) noexcept;
void opRemovexattr(fuse_req_t req, fuse_ino_t ino, const char *name) noexcept;

// The set-user-ID bit, and set-group-ID where group execution is on: what
// a write or truncation by someone without CAP_FSETID clears.
mode_t privilegeBitsToKill(mode_t mode);
// Clears them on a node (and saves it) if it has any (op_io.cpp).
void clearPrivilegeBits(Filesystem &fs, fuse_ino_t ino);

}  // namespace chanfs::fs
