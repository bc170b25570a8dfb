// The endpoint seam: everything outside the filesystem that reads or writes
// a channel (a real named FIFO, a Unix socket listening or connecting, and
// next a NATS link) is an Endpoint, made by the EndpointKind registered
// under its xattr name (`user.chanfs.fifo`, `user.chanfs.uds`). fs/ knows
// only this header: it stores endpoints in one slot per node, asks the
// registry to parse and make them, lists their stats by name, lets the file's
// open() go through them and destroys them on one teardown path.
//
// Threading contract: an Endpoint's methods may be called from any thread
// (the FUSE request threads), never while holding a channel's mutex; its I/O
// runs on the EventLoop it was made with. make() and the destructor wait for
// that loop (EventLoop::sync), so neither is called from the loop thread nor
// with the inode table's lock held. The registry is immutable.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "channels/base/credentials.h"
#include "channels/base/event_loop.h"
#include "channels/core/channel.h"

namespace chanfs {

// One live stat, listed as `user.chanfs.stats.<name>`. Generic so the xattr
// code, chanctl and the metrics exporter need no per-endpoint field list.
struct EndpointStat {
    std::string name;  // "fifo_bytes", "uds_clients", ...
    std::string value;
    bool numeric = true;  // false for text such as the last error
};

// One open() of a channel whose endpoint takes the file over (a uds
// connection per open, the file side of a listening socket): reads go to
// in(), writes to out(), both ordinary channels, so parking, interrupts,
// O_NONBLOCK and poll work as on any channel.
class FileSide {
public:
    virtual ~FileSide() = default;
    // Null handle where the file was not opened for that direction.
    virtual Channel &in() = 0;
    virtual Handle *inHandle() = 0;
    virtual Channel &out() = 0;
    virtual Handle *outHandle() = 0;
    // The file was closed: releases its handles, sends what is still
    // queued, then hangs up. Idempotent.
    virtual void close() = 0;
};

// Who an endpoint is made for.
struct EndpointTarget {
    std::shared_ptr<Channel> channel;
    mode_t mode = 0600;  // the channel's permission bits, owner and group:
    uid_t uid = 0;       // the files an endpoint makes (FIFO, socket) get them
    gid_t gid = 0;
    Credentials as;  // whose rights create, bind and open paths
};

class Endpoint {
public:
    // Teardown, the only one: stops its I/O, hangs up its connections
    // (readers get end-of-file, writers EPIPE) and removes the files it made.
    virtual ~Endpoint() = default;
    // The xattr value it was made from, e.g. "in:/run/legacy.fifo".
    virtual std::string describe() const = 0;
    // The path outside the mount it uses: a new endpoint on the same path
    // replaces this one before it is made, so it can take the path over.
    virtual std::string outsidePath() const = 0;
    // Live stats, in listing order; names unique across endpoint kinds.
    virtual std::vector<EndpointStat> stats() const = 0;
    // The channel's owner, group or mode changed: the file the endpoint
    // made follows, so a channel made private makes its endpoint private
    // too. 0 or -errno (-ESTALE: another file is at the path now).
    virtual int followChannel(mode_t /*mode*/, uid_t /*uid*/, gid_t /*gid*/) { return 0; }
    // The file side of an open(): null (*out) when the file's handles are
    // ordinary handles on the channel itself. `opener` is called only when
    // the opener's identity is needed (connecting as them). 0 or -errno.
    virtual int openFile(const std::function<Credentials()> & /*opener*/, bool /*reads*/,
                         bool /*writes*/, std::shared_ptr<FileSide> *out)
    {
        out->reset();
        return 0;
    }
    // A channel the file's readers read besides the channel itself (what
    // socket clients sent): its queued data counts in the file's size, mtime
    // and queued stats like any write. Null if none.
    virtual const Channel *queuedForFile() const { return nullptr; }
};

// One kind of endpoint, registered under its xattr name.
struct EndpointKind {
    std::string_view key;  // "fifo": the xattr user.chanfs.fifo
    // Checks `value` without making anything; sets `outsidePath`. 0 or
    // -EINVAL with `why`.
    int (*parse)(std::string_view value, std::string *outsidePath, std::string *why);
    // Makes the endpoint for `value` (already parsed). 0 or -errno with `why`.
    int (*make)(EventLoop &loop, const EndpointTarget &target, std::string_view value,
                std::shared_ptr<Endpoint> *out, std::string *why);
};

// Every endpoint kind, in listing order. Adding a kind is one new file and
// one line in registry.cpp.
std::span<const EndpointKind> endpointKinds();
// The kind registered under `key`, or null.
const EndpointKind *findEndpointKind(std::string_view key);

}  // namespace chanfs
