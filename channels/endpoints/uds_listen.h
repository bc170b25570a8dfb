// `user.chanfs.uds = listen:/path` (and `listen-seqpacket:/path`): chanfs
// listens on a Unix socket; the socket is one end, the file the other, like
// a socketpair.
//
// - What the file's writers write goes into the channel itself; every
//   connected client is one reader of it (pipe/queue: each message to one
//   client, taking turns; topic: every client gets every message).
// - What clients send goes into a second, private channel with the same
//   settings, which the file's readers read. Each client connection is one
//   writer session of it.
// - SOCK_STREAM clients speak the channel's framing on the wire;
//   SOCK_SEQPACKET clients send and receive one message per packet.
// - A client whose data breaks the framing (an lp32 length over
//   max_message) is disconnected with a log line; others are unaffected.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "channels/endpoints/bridge.h"
#include "channels/endpoints/uds_connect.h"

namespace chanfs {

struct UdsListenSpec {
    std::string path;  // absolute
    bool seqpacket = false;
    mode_t mode = 0600;  // the socket file's owner and mode: the channel's
    uid_t ownerUid = 0;
    gid_t ownerGid = 0;
    Credentials as;  // whose rights bind the socket
};

// Parses "listen:/path" or "listen-seqpacket:/path". 0, -EINVAL with `why`,
// or -ENOENT if the value is not a listen value at all.
int parseUdsListen(std::string_view value, UdsListenSpec *spec, std::string *why);

class UdsListenBridge : public Bridge {
public:
    // Binds and starts listening. 0 or -errno with `why`.
    static int make(EventLoop &loop, std::shared_ptr<Channel> channel, const UdsListenSpec &spec,
                    std::shared_ptr<UdsListenBridge> *out, std::string *why);
    // The file side of one open(): reads what clients sent, writes to them.
    virtual std::shared_ptr<UdsConnection> openFile(bool reads, bool writes) = 0;
};

}  // namespace chanfs
