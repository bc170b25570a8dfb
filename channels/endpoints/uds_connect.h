// `user.chanfs.uds = connect:/path`: every open() of the channel file is its
// own connection to the Unix-socket server at /path. What the opener writes
// is sent; what the server sends is read; close hangs up.
//
// A connection is two private pipe channels: `in` (server -> file readers)
// and `out` (file writers -> server), with an FdPump between them and the
// socket. The file's handles are ordinary handles on them, so parking,
// interrupts, O_NONBLOCK and poll work as on any channel. When the server
// hangs up, `in` ends (reads return 0 after the buffered data) and `out`
// breaks (writes fail with EPIPE); when it only stops sending, `in` ends and
// writes still go to it.
//
// Threading: as endpoint.h; connections live on the bridge event loop.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "channels/endpoints/endpoint.h"

namespace chanfs {

// Parses "connect:/path" (absolute). -EINVAL with `why` otherwise.
int parseUdsConnect(std::string_view value, std::string *path, std::string *why);
// An absolute path that fits a Unix socket address. 0 or -EINVAL with `why`.
int checkSocketPath(std::string_view path, std::string *why);

// The endpoint for "connect:/path"; makes no connection until an open().
std::shared_ptr<Endpoint> makeUdsConnect(EventLoop &loop, std::shared_ptr<Channel> channel,
                                         std::string path);

}  // namespace chanfs
