// The transports chanfs-bench compares: kernel pipe, FIFO and Unix
// sockets, the bare FUSE loop, and chanfs channels and socket endpoints.
// Each gives fresh one-way links (a write end and a read end, the reader
// opened first so a topic subscriber sees everything written), so one
// measurement never sees another's leftovers.
//
// Threading: a Transport is used by the main thread; the fds of a Link may
// be used from any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "channels/base/unique_fd.h"
#include "tools/bench/segment_meter.h"

namespace chanfs::bench {

// Nats: the raw cnats baselines and chanfs channels over NATS
// (nats_bench.h); not Transports, but figures in the same tables.
enum class Group { Kernel, BareFuse, Chanfs, Nats };

// One direction. Destruction closes the write end first, then the read
// end, then removes what the link created.
struct Link {
    Link() = default;
    Link(Link &&) = default;
    Link &operator=(Link &&) = default;
    ~Link();

    UniqueFd r;
    UniqueFd w;
    bool readsWholeLines = false;          // r is a chanfs lines channel: reads end on '\n'
    std::vector<std::string> removeAfter;  // channel files made for this link
};

class Transport {
public:
    virtual ~Transport() = default;
    const std::string &name() const { return name_; }
    Group group() const { return group_; }
    // Largest single write it takes (a seqpacket is bounded by the socket buffer).
    size_t maxWriteBytes() const { return maxWriteBytes_; }
    // A durable chanfs channel's fsync policy ("never", "batch", "always");
    // empty for everything else.
    const std::string &fsyncPolicy() const { return fsync_; }
    bool durable() const { return !fsync_.empty(); }

    virtual Link link() = 0;
    // Two links for a round trip: A writes there.w and reads back.r, B reads
    // there.r and writes back.w.
    virtual std::pair<Link, Link> duplex() { return {link(), link()}; }
    // Durable channels: what the journals of the links made since the last
    // call wrote to disk. Call once those links are gone. Nothing if not
    // durable or not measured (see whyNoDiskUse()).
    virtual std::optional<DiskUse> takeDiskUse() { return std::nullopt; }
    virtual std::string whyNoDiskUse() const { return {}; }

protected:
    Transport(std::string name, Group g, size_t maxWrite = SIZE_MAX, std::string fsync = {})
        : name_(std::move(name)), group_(g), maxWriteBytes_(maxWrite), fsync_(std::move(fsync))
    {
    }

private:
    std::string name_;
    Group group_;
    size_t maxWriteBytes_;
    std::string fsync_;
};

std::unique_ptr<Transport> kernelPipe();
std::unique_ptr<Transport> kernelFifo(const std::string &dir);
std::unique_ptr<Transport> kernelUnixSocket(bool seqpacket);
// The bare FUSE loop mounted there; `name` tells its polling apart.
std::unique_ptr<Transport> bareFuse(const std::string &mountpoint, const std::string &name);

// A chanfs channel of the given kind and framing; every link is a new
// channel file under dir, removed when the link goes. A non-empty
// `delivery` (one, batch) is set on each channel and named in the label.
std::unique_ptr<Transport> chanfsChannel(const std::string &dir, const std::string &kind,
                                         const std::string &framing,
                                         const std::string &delivery = {});

// A durable chanfs queue/lines channel (user.chanfs.durable=1) with the
// given fsync policy, on a chanfs mounted at dir with the state directory
// stateSource (its SOURCE argument). Each link's journal is metered
// (segment_meter.h).
std::unique_ptr<Transport> chanfsDurable(const std::string &dir, const std::string &stateSource,
                                         const std::string &fsync);

// A chanfs queue/lines channel with `uds=listen:`: a socket client on one
// side, the channel file on the other. toFile picks the link direction
// (client -> file, or file -> client); duplex() pairs the two. A
// non-empty `delivery` is set before the socket is (what the clients send
// takes the channel's settings then) and named in the label.
std::unique_ptr<Transport> chanfsListen(const std::string &dir, const std::string &socketDir,
                                        bool toFile, const std::string &delivery = {});

// Creates a chanfs channel file with bench settings (capacity and
// max_message 4 MiB, like the bare loop's buffer).
void makeChannel(const std::string &path, const std::string &kind, const std::string &framing);

}  // namespace chanfs::bench
