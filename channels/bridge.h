// Bridges: endpoints of a channel outside the filesystem (real named FIFOs,
// Unix sockets). A bridge is one more reader or writer of its channel,
// driven by the shared EventLoop; the FUSE layer only creates, describes
// and destroys them.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "channel.h"
#include "credentials.h"
#include "event_loop.h"

namespace chanfs {

struct BridgeStats {
    bool connected = false;  // a program has the other end open
    uint64_t clients = 0;    // connected socket clients (listening bridges)
    uint64_t bytes = 0;      // moved through the bridge, either way
    std::string lastError;   // "" if none
};

class Bridge {
public:
    virtual ~Bridge() = default;
    // The xattr value it was made from, e.g. "in:/run/legacy.fifo".
    virtual std::string describe() const = 0;
    virtual BridgeStats stats() const = 0;
};

// The bytes of a delivery, copied: a bridge hands them to its event loop
// after the channel's reply call has returned. Throws std::bad_alloc.
inline std::string flatten(std::span<const iovec> data)
{
    std::string out;
    for (const iovec &v : data) out.append(static_cast<const char *>(v.iov_base), v.iov_len);
    return out;
}

enum class FifoDirection { In, Out };

struct FifoBridgeSpec {
    FifoDirection direction = FifoDirection::In;
    std::string path;     // absolute
    mode_t mode = 0600;   // permission bits for a FIFO chanfs creates
    uid_t ownerUid = 0;   // owner and group for a FIFO chanfs creates
    gid_t ownerGid = 0;
    Credentials as;       // whose rights create and open the path
};

// Parses "in:/path" or "out:/path". -EINVAL with `why` if malformed.
int parseFifoSpec(std::string_view value, FifoBridgeSpec *spec, std::string *why);

// Creates (or adopts) the FIFO and starts moving data between it and `ch`.
// Destroying the bridge stops it, and removes the FIFO if it created it.
// 0 or -errno, with `why` for the log.
int makeFifoBridge(EventLoop &loop, std::shared_ptr<Channel> ch, const FifoBridgeSpec &spec,
                   std::unique_ptr<Bridge> *out, std::string *why);

}  // namespace chanfs
