#include "channels/storage/registry.h"

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <string>

#include "channels/storage/journal.h"
#include "channels/storage/nats/nats_link.h"

namespace chanfs {

// One line per store: its name, whether it keeps messages across restarts
// (needs a state directory), and its factory, defined in the store's own
// file. The line declares the factory too, so adding a store is that file
// and this line (left unformatted, so a new line never realigns the others).
// clang-format off
#define CHANFS_STORAGE_BACKENDS(X) \
    X("memory", false, openMemoryStore) \
    X("journal", true, openJournalStore) \
    X("nats", false, openNatsStore) \
    /* a new store goes above this line, as one X(name, durable, factory) */
// clang-format on

#define CHANFS_DECLARE_STORE(name, durable, factory)                                             \
    int factory(const StoreRequest &req, std::shared_ptr<MessageStore> *out, StoreRecovery *rec, \
                std::string *why);
CHANFS_STORAGE_BACKENDS(CHANFS_DECLARE_STORE)
#undef CHANFS_DECLARE_STORE

namespace {

#define CHANFS_STORE_ENTRY(name, durable, factory) {name, durable, factory},
constexpr StorageBackend kBackends[] = {CHANFS_STORAGE_BACKENDS(CHANFS_STORE_ENTRY)};
#undef CHANFS_STORE_ENTRY

}  // namespace

namespace {
std::mutex linkMu;
std::shared_ptr<NatsLink> theLink;  // guarded by linkMu
}  // namespace

void setNatsLink(std::shared_ptr<NatsLink> link)
{
    std::lock_guard<std::mutex> g(linkMu);
    theLink = std::move(link);
}

std::shared_ptr<NatsLink> natsLink()
{
    std::lock_guard<std::mutex> g(linkMu);
    return theLink;
}

std::vector<StorageLinkStat> storageLinkStats()
{
    std::vector<StorageLinkStat> out;
    const std::shared_ptr<NatsLink> link = natsLink();
    if (!link) return out;
    out.push_back({"nats_connected", "1 while the NATS link is connected.", false,
                   link->connected() ? 1u : 0u});
    out.push_back({"nats_cluster_servers", "Servers in the NATS cluster (0 until connected once).",
                   false, static_cast<uint64_t>(std::max(0, link->clusterSize()))});
    out.push_back({"nats_publishes_acked_total", "Publishes JetStream acknowledged.", true,
                   link->publishesAcked()});
    out.push_back({"nats_publish_failures_total",
                   "Publishes that failed (error reply, no reply in time, not sent); each is "
                   "retried.",
                   true, link->publishFailures()});
    out.push_back({"nats_disconnects_total", "Times the NATS link went down.", true,
                   link->disconnects()});
    return out;
}

int checkNatsWanted(uint32_t replicas, std::string *why)
{
    const std::shared_ptr<NatsLink> link = natsLink();
    if (!link) {
        *why = "backend=nats needs a NATS cluster: mount with -o nats=nats://HOST:PORT";
        return -EINVAL;
    }
    const int cluster = link->clusterSize();
    if (cluster > 0 && static_cast<int64_t>(replicas) > cluster) {
        *why = "replicas=" + std::to_string(replicas) + " but the NATS cluster has " +
               std::to_string(cluster) + " server(s)";
        return -EINVAL;
    }
    return 0;
}

const StorageBackend *findStorage(std::string_view name)
{
    for (const StorageBackend &b : kBackends)
        if (b.name == name) return &b;
    return nullptr;
}

const StorageBackend &storageFor(const Settings &s)
{
    return *findStorage(backendName(s));
}

void syncSoon(const std::shared_ptr<Syncable> &s)
{
    JournalSyncer::instance().markDirty(s);
}

void finishPendingSyncs()
{
    JournalSyncer::instance().drain();
}

}  // namespace chanfs
