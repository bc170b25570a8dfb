// Marks channel opens FOPEN_STREAM, which libfuse 3.14 cannot express.
//
// Without it the kernel serialises read(2) and write(2) on one open file
// with its file-position lock: a child blocked reading a shared O_RDWR
// descriptor would block its parent's write until data came. The flag is
// added to OPEN/CREATE replies on their way to /dev/fuse, through libfuse's
// custom-io hook (which also turns off splice; measured: it did not help).
#pragma once

#include "fuse_api.h"

namespace chanfs::fs {

// Installs the hook on a mounted session. 0 or -errno.
int installStreamIo(fuse_session *se);

// fuse_reply_open/fuse_reply_create that also set FOPEN_STREAM.
int replyOpenStream(fuse_req_t req, const fuse_file_info *fi);
int replyCreateStream(fuse_req_t req, const fuse_entry_param *e, const fuse_file_info *fi);

}  // namespace chanfs::fs
