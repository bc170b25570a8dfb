// The journal store: a durable channel's messages kept in its journal
// (journal.h) under the state directory, besides the queued image every
// store has. A write is acknowledged once flush() wrote its records and,
// with fsync=always, once the syncer thread's fdatasync succeeded; a
// delivered message is recorded consumed ('G') once its reply succeeded.
//
// Threading contract: as message_store.h says per method. The journal has
// its own mutex, after the channel's; consumed(), flush() and
// acknowledgeAfterSync() may run with no channel mutex held.
#pragma once

#include <memory>

#include "channels/core/message_store.h"
#include "channels/storage/journal.h"

namespace chanfs {

class JournalStore final : public MessageStore {
public:
    // Queues what `rec` holds and records every later append in `journal`.
    JournalStore(std::shared_ptr<Journal> journal, RecoveredLog &rec);

    std::string_view name() const override { return "journal"; }
    bool durable() const override { return true; }
    void configure(const Settings &s) override;
    void recordQueued() override;
    void consumed(std::span<const uint64_t> seqs) override;
    int flush() override;
    int failure() const override;
    std::string health() const override;
    void cancelAppends(uint64_t fromSeq) override;
    bool acknowledgesAfterSync() const override { return fsync_ == FsyncPolicy::Always; }
    void acknowledgeAfterSync(std::unique_ptr<WriteWaiter> waiter, size_t bytes) override;
    void destroy() override;

    // For tests and stats: the journal itself.
    Journal &journal() { return *journal_; }

private:
    const std::shared_ptr<Journal> journal_;
    FsyncPolicy fsync_;  // the channel's, as of the last configure()
};

}  // namespace chanfs
