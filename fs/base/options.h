// The daemon's command line: `chanfs [SOURCE] MOUNTPOINT [-o opts] [-f] [-d]`.
// Options chanfs understands are taken out; the rest go to libfuse.
#pragma once

#include <string>
#include <vector>

#include "channels/base/settings.h"
#include "channels/storage/nats/nats_config.h"

namespace chanfs::fs {

// -o poll_us's default: how long a request thread spins on /dev/fuse after
// a request before it sleeps (fs/fuse/request_poll.h). Chosen from
// tools/bench runs on a 2-vCPU VM (docs/performance-notes-speed.md).
inline constexpr unsigned kDefaultPollUs = 50;
// Longer spins gained nothing measurable and cost a core for that long.
inline constexpr unsigned kMaxPollUs = 10000;

struct Options {
    std::string source;  // state directory or a label (fstab's first field)
    std::string mountpoint;
    // -o bridge_root=DIR: bridge paths must lie inside it (absolute, resolved).
    std::string bridgeRoot;
    // -o config=FILE (absolute): the config file, instead of SOURCE/chanfs.toml.
    std::string configFile;
    bool foreground = false;
    bool debug = false;  // -d: libfuse request tracing, implies -f
    bool help = false;
    bool version = false;
    std::string logLevel = "info";
    bool logJson = false;  // -o log_format=json
    unsigned threads = 1;  // request threads; 1: single-threaded loop (fastest on 2 cores)
    unsigned pollUs = kDefaultPollUs;  // -o poll_us=N: spin window; 0: sleep at once
    bool defaultPermissions = true;
    // -o force_mount: mount even if MOUNTPOINT is a FUSE mount already
    // (see checkMountpoint() in session.h).
    bool forceMount = false;
    PartialSettings defaults;  // -o default_kind= etc.
    // -o max_memory=SIZE: all channels' queued messages together (see
    // channels/core/memory_budget.h). Default: a quarter of physical memory.
    uint64_t maxMemoryBytes = 0;
    // -o max_channels=N: channels and directories in the tree together.
    uint64_t maxChannels = 1000000;
    // -o metrics=ADDR:PORT or unix:/path: where fs/daemon/metrics.* serves
    // /metrics; "" for no endpoint. A TCP address must be loopback unless
    // -o metrics_bind_any.
    std::string metricsAddress;
    bool metricsBindAny = false;
    // -o metrics_max_channels=N: channels past N (by path) get no series.
    uint64_t metricsMaxChannels = 1000;
    // -o nats=URL (repeatable), nats_creds=, nats_ca=, nats_cert=,
    // nats_key=, nats_prefix=: the NATS cluster NATS-backed channels live in
    // (docs/nats.md). Empty servers: no link, backend=nats is refused.
    NatsConfig nats;
    std::vector<std::string> fuseOptions;     // passed to libfuse as -o
    std::vector<std::string> ignoredOptions;  // fstab-only (defaults, _netdev, x-*...)
};

// 0 on success; otherwise *err holds a message for the user (exit code 2).
int parseOptions(int argc, char **argv, Options *out, std::string *err);
// A quarter of physical memory (the default max_memory); 1 GiB if unknown.
uint64_t defaultMaxMemory();
// The smallest max_memory accepted: one FUSE write request's worth.
inline constexpr uint64_t kMinMaxMemoryBytes = kMiB;
std::string usage(const char *prog);

}  // namespace chanfs::fs
