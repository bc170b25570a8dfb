#include "channels/storage/journal_store.h"

#include <filesystem>
#include <system_error>

#include "channels/storage/registry.h"

namespace chanfs {

JournalStore::JournalStore(std::shared_ptr<Journal> journal, RecoveredLog &rec)
    : journal_(std::move(journal)), fsync_(FsyncPolicy::Never)
{
    for (Entry &e : rec.entries) restoreEntry(std::move(e));
    rec.entries.clear();
    continueNumberingAt(rec.nextSeq);
    observeAppends(journal_.get());
}

void JournalStore::configure(const Settings &s)
{
    fsync_ = s.fsync;
    journal_->configure(s);
}

void JournalStore::recordQueued()
{
    for (const Entry &e : queued()) journal_->appended(e);
}

void JournalStore::consumed(std::span<const uint64_t> seqs)
{
    journal_->gone(seqs);
}

int JournalStore::flush()
{
    return journal_->flush();
}

int JournalStore::failure() const
{
    return journal_->failure();
}

std::string JournalStore::health() const
{
    return journal_->healthText();
}

void JournalStore::cancelAppends(uint64_t fromSeq)
{
    journal_->cancelAppends(fromSeq);
}

void JournalStore::acknowledgeAfterSync(std::unique_ptr<WriteWaiter> waiter, size_t bytes)
{
    JournalSyncer::instance().afterSync(journal_, std::move(waiter), bytes);
}

void JournalStore::destroy()
{
    journal_->destroy();
}

int openJournalStore(const StoreRequest &req, std::shared_ptr<MessageStore> *out,
                     StoreRecovery *recovery, std::string *why)
{
    if (req.fresh) {
        std::error_code ec;
        std::filesystem::remove_all(req.dir, ec);  // a crash may have left an old one
    }
    std::shared_ptr<Journal> journal;
    RecoveredLog rec;
    if (int rc = Journal::open(req.dir, req.settings, req.label, &journal, &rec, why); rc < 0)
        return rc;
    if (recovery) {
        recovery->entries = rec.entries.size();
        recovery->units = rec.segments;
        recovery->cutBytes = rec.cutBytes;
    }
    auto store = std::make_shared<JournalStore>(std::move(journal), rec);
    store->configure(req.settings);
    *out = std::move(store);
    return 0;
}

}  // namespace chanfs
