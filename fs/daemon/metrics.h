// The Prometheus endpoint (-o metrics=ADDR:PORT or unix:/path): GET
// /metrics answers in the text exposition format (0.0.4) with the daemon's
// and each channel's numbers. HTTP is libmicrohttpd's, on its own thread,
// so a slow scraper never holds a FUSE request.
//
// Threading contract: MetricsServer is created and destroyed by main()'s
// thread (destroy it before the Filesystem goes: the destructor waits for
// the server thread). A scrape holds the inode table's shared lock only to
// copy references to the channels and bridges, then each channel's mutex
// only inside Channel::stats(); formatting runs with no lock held.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "fs/tree/filesystem.h"

namespace chanfs::fs {

// The whole exposition text for one scrape: daemon series, then per-channel
// series for the first `maxChannels` channels by path.
std::string renderMetrics(Filesystem &fs, uint64_t maxChannels);

class MetricsServer {
public:
    // Listens at opts.metricsAddress. nullptr with *err set if the address
    // is malformed, not loopback (without metrics_bind_any) or cannot be
    // bound.
    static std::unique_ptr<MetricsServer> start(Filesystem &fs, const Options &opts,
                                                std::string *err);
    ~MetricsServer();
    MetricsServer(const MetricsServer &) = delete;
    MetricsServer &operator=(const MetricsServer &) = delete;

    // Where it listens, for the log: "127.0.0.1:9187" (the real port if 0
    // was asked), "unix:/run/chanfs.sock".
    const std::string &address() const { return address_; }

    struct Impl;
    explicit MetricsServer(std::unique_ptr<Impl> impl);

private:
    std::unique_ptr<Impl> impl_;
    std::string address_;
};

}  // namespace chanfs::fs
