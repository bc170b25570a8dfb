// `user.chanfs.uds = listen:/path` (and `listen-seqpacket:/path`): chanfs
// listens on a Unix socket; the socket is one end, the file the other, like
// a socketpair.
//
// - What the file's writers write goes into the channel itself; every
//   connected client is one reader of it (pipe/queue: each message to one
//   client, taking turns; topic: every client gets every message).
// - What clients send goes into a second, private channel with the same
//   settings, which the file's readers read. Each client connection is one
//   writer session of it: a client's end-of-file (shutdown(SHUT_WR)) ends
//   its session, and the client stays a reader.
// - A pipe's end-of-stream mark ends the session of the client that read
//   it: what came before is sent, then its socket is half-closed, so `socat`
//   and `nc -N` exit as they would on a socket.
// - SOCK_STREAM clients speak the channel's framing on the wire;
//   SOCK_SEQPACKET clients send and receive one message per packet.
// - A client whose data breaks the framing (an lp32 length over
//   max_message) is disconnected with a log line; others are unaffected.
//
// Threading: as endpoint.h; clients live on the bridge event loop.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "channels/endpoints/endpoint.h"

namespace chanfs {

struct UdsListenSpec {
    std::string path;  // absolute
    bool seqpacket = false;
};

// Parses "listen:/path" or "listen-seqpacket:/path". 0, -EINVAL with `why`,
// or -ENOENT if the value is not a listen value at all.
int parseUdsListen(std::string_view value, UdsListenSpec *spec, std::string *why);

// Binds as target.as, gives the socket the channel's owner and mode, and
// starts listening. 0 or -errno with `why`.
int makeUdsListen(EventLoop &loop, const EndpointTarget &target, const UdsListenSpec &spec,
                  std::shared_ptr<Endpoint> *out, std::string *why);

}  // namespace chanfs
