// The table of message stores (message_store.h), keyed by name: "memory",
// "journal". Callers (fs/'s state store, tests) pick a store by name and
// never name its type; adding a store is one new file in channels/storage/
// (which defines its factory, `int openXStore(const StoreRequest &, ...)`
// with StorageBackend::open's signature) plus one line in registry.cpp's
// CHANFS_STORAGE_BACKENDS, and the file in channels/meson.build.
//
// Threading contract: the table is constant; every function is thread-safe.
// open() runs without any channel mutex (it may read a directory).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "channels/base/settings.h"
#include "channels/core/message_store.h"
#include "channels/storage/syncable.h"

namespace chanfs {

class NatsLink;

// Where and for whom a store is opened.
struct StoreRequest {
    std::string dir;    // the channel's own directory in the state directory
    Settings settings;  // the channel's settings (kind, fsync, retention)
    std::string label;  // names the channel in log lines
    // Discard whatever `dir` holds (durable just turned on: a crash may have
    // left an old log); otherwise recover it.
    bool fresh = false;
};

// What a durable store found when it opened.
struct StoreRecovery {
    uint64_t entries = 0;   // messages and pipe marks restored
    uint64_t units = 0;     // files (journal segments) kept
    uint64_t cutBytes = 0;  // damaged bytes cut off
};

struct StorageBackend {
    std::string_view name;
    bool durable;  // keeps messages across restarts: needs a state directory
    // Opens a store; what it recovered is queued in it. 0 or -errno with
    // `why`.
    int (*open)(const StoreRequest &req, std::shared_ptr<MessageStore> *out, StoreRecovery *rec,
                std::string *why);
};

// The daemon's NATS link (nats/nats_link.h), for the "nats" store: set once
// at mount (before any store opens) when -o nats= is given; null otherwise
// (backend=nats is then refused with EINVAL). Thread-safe.
void setNatsLink(std::shared_ptr<NatsLink> link);
std::shared_ptr<NatsLink> natsLink();
// Whether this mount can serve backend=nats with `replicas` (0: the
// default), for a directory default that no store checks yet: -EINVAL with
// `why` when there is no link, or when the link knows the cluster and it has
// fewer servers than `replicas`; 0 otherwise (also while never connected:
// the store checks again when it opens).
int checkNatsWanted(uint32_t replicas, std::string *why);

// The daemon-wide numbers of the storage links (today the NATS link, when
// set): for the /metrics scrape, which shows them as chanfs_<name>. Empty
// without a link. Thread-safe; reads counters only (never the network).
struct StorageLinkStat {
    std::string name;  // "nats_connected", "nats_publishes_acked_total", ...
    std::string help;
    bool counter = false;  // else a gauge
    uint64_t value = 0;
};
std::vector<StorageLinkStat> storageLinkStats();

// The backend registered under `name`, or null.
const StorageBackend *findStorage(std::string_view name);
// The store a channel with these settings belongs in (durable=1: "journal").
const StorageBackend &storageFor(const Settings &s);

// The stores' syncer thread, for other files of the state directory: syncs
// `s` soon (within the batch-sync interval), off the caller's thread.
void syncSoon(const std::shared_ptr<Syncable> &s);
// Answers every write waiting for a sync and syncs what is dirty, now, on
// the caller's thread (the daemon is stopping: no reply may come later).
void finishPendingSyncs();

}  // namespace chanfs
