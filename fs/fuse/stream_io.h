// Our hook on libfuse's reads from and writes to /dev/fuse.
//
// Writes: marks channel opens FOPEN_STREAM, which libfuse 3.14 cannot express.
//
// Without it the kernel serialises read(2) and write(2) on one open file
// with its file-position lock: a child blocked reading a shared O_RDWR
// descriptor would block its parent's write until data came. The flag is
// added to OPEN/CREATE replies on their way to /dev/fuse, through libfuse's
// custom-io hook (which also turns off splice; measured: it did not help).
//
// Reads: the kernel sends RELEASE in the background, after close(2) has
// returned, so a program that closes and reopens a channel can have its
// next OPEN handled by another worker thread before the RELEASE: the writer
// count never reaches 0 and two pipe sessions merge. Requests leave
// /dev/fuse in the order the kernel queued them, so reads are taken one at
// a time and a RELEASE's channel-side close runs right there, before the
// next request is read. Nothing blocks under that lock: with several
// threads each polls first and reads non-blocking; a single thread that
// does not spin simply blocks in read(2), one syscall per request instead
// of two.
//
// Polling (-o poll_us=N, request_poll.h): after a request, a thread tries
// non-blocking reads for up to N us before it sleeps. It spins holding the
// read lock, so every read is still one at a time under it and a RELEASE
// is still handled before the next request is taken.
// A WRITE's FUSE_WRITE_KILL_SUIDGID flag (the writer lacks CAP_FSETID),
// which libfuse 3.14 does not pass on, is noted for the thread that
// handles it: libfuse handles a request on the thread that read it.
#pragma once

#include <cstdint>
#include <functional>

#include "fs/base/fuse_api.h"

namespace chanfs::fs {

// Called with a RELEASE's file handle as soon as it is read; must not block.
using EarlyRelease = std::function<void(uint64_t fh)>;

// Installs the hook on a mounted session that `threads` request threads
// will serve, each spinning up to pollUs before it sleeps (0: never).
// 0 or -errno.
int installStreamIo(fuse_session *se, EarlyRelease onRelease, unsigned threads, unsigned pollUs);

// Whether the WRITE this thread is handling asks for the set-user-ID and
// set-group-ID bits to be cleared (the kernel's FUSE_WRITE_KILL_SUIDGID).
bool writeKillsSuidgid();

// fuse_reply_open/fuse_reply_create that also set FOPEN_STREAM.
int replyOpenStream(fuse_req_t req, const fuse_file_info *fi);
int replyCreateStream(fuse_req_t req, const fuse_entry_param *e, const fuse_file_info *fi);

}  // namespace chanfs::fs
