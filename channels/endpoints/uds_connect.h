// `user.chanfs.uds = connect:/path`: every open() of the channel file is its
// own connection to the Unix-socket server at /path. What the opener writes
// is sent; what the server sends is read; close hangs up.
//
// A connection is two private pipe channels: `in` (server -> file readers)
// and `out` (file writers -> server). The file's handles are ordinary
// handles on them, so parking, interrupts, O_NONBLOCK and poll work as on any
// channel; the event loop moves bytes between them and the socket. When the
// server hangs up, `in` ends (reads return 0 after the buffered data) and
// `out` breaks (writes fail with EPIPE).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "channels/base/credentials.h"
#include "channels/base/event_loop.h"
#include "channels/core/channel.h"
#include "channels/endpoints/bridge.h"

namespace chanfs {

class UdsConnection;

// The bridge setting on a channel: where to connect, and the counts that
// its stats show.
class UdsConnectBridge final : public Bridge {
public:
    UdsConnectBridge(EventLoop &loop, std::string path, Settings settings)
        : loop_(loop), path_(std::move(path)), settings_(std::move(settings))
    {
    }
    // Hangs up every connection still open through it.
    ~UdsConnectBridge() override;
    UdsConnectBridge(const UdsConnectBridge &) = delete;
    UdsConnectBridge &operator=(const UdsConnectBridge &) = delete;
    std::string describe() const override { return "connect:" + path_; }
    BridgeStats stats() const override;

    // Connects as `as` (the opener). 0, or -errno (ENOENT, ECONNREFUSED,
    // EACCES...): then nothing is left open.
    int connect(const Credentials &as, bool reads, bool writes,
                std::shared_ptr<UdsConnection> *out);

    struct Counters {
        std::atomic<uint64_t> open{0};
        std::atomic<uint64_t> bytes{0};
        std::vector<std::weak_ptr<UdsConnection>> live;  // loop thread only
    };

private:
    EventLoop &loop_;
    const std::string path_;
    const Settings settings_;
    std::shared_ptr<Counters> counters_ = std::make_shared<Counters>();
};

// One connection, owned by the open file that made it.
class UdsConnection {
public:
    virtual ~UdsConnection() = default;
    // The file side: read from in(), write to out(). Null where the file
    // was not opened for that direction.
    virtual Channel &in() = 0;
    virtual Handle *inHandle() = 0;
    virtual Channel &out() = 0;
    virtual Handle *outHandle() = 0;
    // The file was closed: releases its handles, sends what is still
    // queued, then hangs up. Idempotent.
    virtual void close() = 0;
    // Loop thread: hangs up now (the bridge or the daemon is going away).
    // Readers get end-of-file, writers EPIPE.
    virtual void abort() = 0;
};

// Parses "connect:/path" (absolute). -EINVAL with `why` otherwise.
int parseUdsConnect(std::string_view value, std::string *path, std::string *why);
// An absolute path that fits a Unix socket address. 0 or -EINVAL with `why`.
int checkSocketPath(std::string_view path, std::string *why);

}  // namespace chanfs
