// The in-memory store: what is queued is all there is. A write is
// acknowledged once its messages are queued; nothing survives the daemon.
// Guarded by its channel's mutex like any store (message_store.h).
#include <cerrno>

#include "channels/core/message_store.h"
#include "channels/storage/registry.h"

namespace chanfs {

namespace {

class MemoryStore final : public MessageStore {
public:
    std::string_view name() const override { return "memory"; }
    bool durable() const override { return false; }
};

}  // namespace

std::shared_ptr<MessageStore> makeMemoryStore()
{
    return std::make_shared<MemoryStore>();
}

int openMemoryStore(const StoreRequest &, std::shared_ptr<MessageStore> *out, StoreRecovery *,
                    std::string *)
{
    *out = makeMemoryStore();
    return 0;
}

}  // namespace chanfs
