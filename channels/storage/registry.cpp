#include "channels/storage/registry.h"

#include "channels/storage/journal.h"

namespace chanfs {

namespace {

// One line per store.
constexpr StorageBackend kBackends[] = {
    {"memory", false, openMemoryStore},
    {"journal", true, openJournalStore},
};

}  // namespace

const StorageBackend *findStorage(std::string_view name)
{
    for (const StorageBackend &b : kBackends)
        if (b.name == name) return &b;
    return nullptr;
}

const StorageBackend &storageFor(const Settings &s)
{
    return *findStorage(s.durable ? "journal" : "memory");
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
