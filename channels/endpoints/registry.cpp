// The endpoint registry: each kind under its xattr name, with the parser and
// the factory that wrap its implementation. Adding a kind: its own file,
// which defines `extern const EndpointKind kXEndpoint{"x", &parse, &make};`,
// and one line in CHANFS_ENDPOINT_KINDS below (and the file in
// channels/meson.build). The names users type (its key, modes and stats) go
// into channels/base/names.h, which chanctl, completion and the man pages
// read: endpoints_test fails until the registry and names.h agree.
#include <algorithm>
#include <cerrno>

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

}  // namespace

// One line per kind, in listing order: the EndpointKind its file defines.
// The line declares it too (left unformatted, so a new line never realigns
// the others).
// clang-format off
#define CHANFS_ENDPOINT_KINDS(X) \
    X(kFifoEndpoint) \
    X(kUdsEndpoint) \
    /* a new kind goes above this line, as one X(kNameEndpoint) */
// clang-format on

#define CHANFS_DECLARE_KIND(kind) extern const EndpointKind kind;
CHANFS_ENDPOINT_KINDS(CHANFS_DECLARE_KIND)
#undef CHANFS_DECLARE_KIND

const EndpointKind kFifoEndpoint{"fifo", &parseFifo, &makeFifo};
const EndpointKind kUdsEndpoint{"uds", &parseUds, &makeUds};

std::span<const EndpointKind> endpointKinds()
{
    // One contiguous table, made at the first call (the kinds themselves are
    // constants, so this works even during another file's static
    // initialisation).
#define CHANFS_KIND_ENTRY(kind) kind,
    static const EndpointKind kinds[] = {CHANFS_ENDPOINT_KINDS(CHANFS_KIND_ENTRY)};
#undef CHANFS_KIND_ENTRY
    return kinds;
}

const EndpointKind *findEndpointKind(std::string_view key)
{
    const auto kinds = endpointKinds();
    const auto it = std::find_if(kinds.begin(), kinds.end(),
                                 [key](const EndpointKind &k) { return k.key == key; });
    return it == kinds.end() ? nullptr : &*it;
}

}  // namespace chanfs
