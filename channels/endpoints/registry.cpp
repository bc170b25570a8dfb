// The endpoint registry: each kind under its xattr name, with the parser and
// the factory that wrap its implementation. Adding a kind: its own file, one
// line in kKinds, and its key, modes and stats in channels/base/names.h (the
// names users type, which chanctl, completion and the man pages read).
#include <algorithm>
#include <cerrno>

#include "channels/base/names.h"
#include "channels/endpoints/bridge.h"
#include "channels/endpoints/endpoint.h"
#include "channels/endpoints/uds_connect.h"
#include "channels/endpoints/uds_listen.h"

namespace chanfs {

namespace {

int parseFifo(std::string_view value, std::string *outsidePath, std::string *why)
{
    FifoBridgeSpec spec;
    if (int rc = parseFifoSpec(value, &spec, why); rc < 0) return rc;
    *outsidePath = spec.path;
    return 0;
}

int makeFifo(EventLoop &loop, const EndpointTarget &t, std::string_view value,
             std::shared_ptr<Endpoint> *out, std::string *why)
{
    FifoBridgeSpec spec;
    if (int rc = parseFifoSpec(value, &spec, why); rc < 0) return rc;
    spec.mode = t.mode;
    spec.ownerUid = t.uid;
    spec.ownerGid = t.gid;
    spec.as = t.as;
    return makeFifoBridge(loop, t.channel, spec, out, why);
}

// uds is connect:/path (every open connects there) or
// listen[-seqpacket]:/path (chanfs listens).
int parseUds(std::string_view value, std::string *outsidePath, std::string *why)
{
    UdsListenSpec spec;
    int rc = parseUdsListen(value, &spec, why);
    if (rc != -ENOENT) {
        if (rc == 0) *outsidePath = spec.path;
        return rc;
    }
    return parseUdsConnect(value, outsidePath, why);
}

int makeUds(EventLoop &loop, const EndpointTarget &t, std::string_view value,
            std::shared_ptr<Endpoint> *out, std::string *why)
{
    UdsListenSpec spec;
    int rc = parseUdsListen(value, &spec, why);
    if (rc == 0) return makeUdsListen(loop, t, spec, out, why);
    if (rc != -ENOENT) return rc;
    std::string path;
    if ((rc = parseUdsConnect(value, &path, why)) < 0) return rc;
    if (loop.status() < 0) {
        *why = "the bridge event loop is not running";
        return loop.status();
    }
    *out = makeUdsConnect(loop, t.channel, std::move(path));
    return 0;
}

constexpr EndpointKind kKinds[] = {
    {"fifo", &parseFifo, &makeFifo},
    {"uds", &parseUds, &makeUds},
};
static_assert(std::size(kKinds) == std::size(kEndpointKeys));
static_assert(kKinds[0].key == kEndpointKeys[0] && kKinds[1].key == kEndpointKeys[1],
              "the registry lists names.h's endpoint keys, in its order");

}  // namespace

std::span<const EndpointKind> endpointKinds()
{
    return kKinds;
}

const EndpointKind *findEndpointKind(std::string_view key)
{
    const auto it = std::find_if(std::begin(kKinds), std::end(kKinds),
                                 [key](const EndpointKind &k) { return k.key == key; });
    return it == std::end(kKinds) ? nullptr : it;
}

}  // namespace chanfs
