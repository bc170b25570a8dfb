// Where a channel's messages live: the storage seam. The channel core owns
// this interface; the implementations live in channels/storage/ (memory,
// journal; registry.h names them) and the core never names one.
//
// Every store keeps what is queued in memory, in order, as a MessageLog (the
// kinds read it by index: a topic's subscribers share one log). What differs
// between stores is where the messages are *kept* besides that image, and so
// what "acknowledged" means for a write:
//   memory   a write is acknowledged once its messages are queued here;
//   journal  once flush() wrote their records to the channel's segment file
//            and, with fsync=always, once acknowledgeAfterSync() saw the
//            fdatasync succeed (on disk).
// A message taken by a reader stays kept until consumed() says the reply
// that carried it succeeded, so a killed reader loses nothing across a
// restart either.
//
// Threading contract (as LevelDB's env.h does it, per method below): a store
// belongs to one channel. Methods marked [channel mutex] are called only by
// that channel and its kind policy with the channel's mutex held; they must
// not block on I/O or call back into the channel. Methods marked [any
// thread] are called by the channel after it released its mutex (replies are
// made unlocked) and must be thread-safe; a store they need a lock for takes
// its own, after the channel's (lock order: channel mutex, then the store's).
// The channel holds its store by shared_ptr and copies it before unlocking,
// so a store replaced meanwhile lives until those calls return.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>
#include <span>
#include <string>
#include <string_view>

#include "channels/base/buffer.h"
#include "channels/base/settings.h"
#include "channels/base/waiters.h"

namespace chanfs {

// How a store whose messages come from elsewhere (a NATS stream: every
// host's writes, in the stream's order) hands them to its channel, and asks
// it to try its parked requests again. The channel makes one for each store
// it uses (MessageStore::attach). Thread-safe; call with no channel mutex
// held (it takes the channel's).
class StoreFeed {
public:
    virtual ~StoreFeed() = default;
    // Messages from the stream, in its order: queued as if written here (the
    // store's observer sees each append, flagged by arriving()), readers
    // woken.
    virtual void arrived(std::vector<Payload> messages) = 0;
    // The store's state changed (acknowledgements freed room, the link came
    // up or went down): parked writes and reads are tried again.
    virtual void changed() = 0;
    // The channel's messages were removed elsewhere (its consumer deleted
    // by another mount's rm): the channel behaves as removed here, its
    // waiting readers get end-of-stream (Channel::detach()).
    virtual void gone() {}
};

class MessageStore {
public:
    virtual ~MessageStore() = default;
    MessageStore(const MessageStore &) = delete;
    MessageStore &operator=(const MessageStore &) = delete;

    // ---- What is queued [channel mutex] -------------------------------
    // Entries in order, with bytes/messages/sequence-number totals.
    const MessageLog &queued() const { return log_; }

    // ---- Changing what is queued [channel mutex] ----------------------
    // The queue operations are the same for every store (they edit the
    // in-memory image); a store learns of appends through its LogObserver
    // (observeAppends) and of everything else through consumed().
    //
    // Appends an entry (message or pipe mark), giving it the next sequence
    // number. Kept from now on; acknowledged per the store (see above).
    void append(Entry e) { log_.pushBack(std::move(e)); }
    // Takes the head entry off the queue for a delivery. Still kept until
    // consumed() (or, for a topic, until the store's retention lets go).
    Entry take() { return log_.popFront(); }
    // Takes the entry at index i (drop-oldest skipping pipe marks).
    Entry takeAt(size_t i) { return log_.eraseAt(i); }
    // Takes n bytes off the head entry (a partial read of bytes framing).
    void takeBytes(uint32_t n) { log_.consumeFront(n); }
    // Puts a taken entry back at the head, keeping its sequence number (the
    // reply that carried it failed).
    void putBack(Entry e) { log_.pushFront(std::move(e)); }
    // Gives the head entry back n bytes takeBytes() took.
    void putBackBytes(uint32_t n) { log_.unconsumeFront(n); }
    // Renumbers entries contiguously and drops pipe marks (kind changed).
    void renumber() { log_.resequence(); }
    // Where the queue's back is now, and taking back every append since:
    // a write whose flush() the store refused is neither delivered nor kept.
    MessageLog::BackMark backMark() const { return log_.backMark(); }
    void rollbackAppends(MessageLog::BackMark m)
    {
        cancelAppends(m.nextSeq);
        log_.rollback(m);
    }

    // ---- Durability ----------------------------------------------------
    // The registry name ("memory", "journal").
    virtual std::string_view name() const = 0;
    // Whether what it keeps survives the daemon (setting `durable`).
    virtual bool durable() const = 0;
    // [channel mutex] Takes fsync policy and retention from new settings.
    virtual void configure(const Settings &) {}
    // [channel mutex] Records what is queued now as if just appended: the
    // channel moved its messages into this store (durable turned on).
    virtual void recordQueued() {}
    // [any thread] These sequence numbers are gone for good: delivered by a
    // reply that succeeded, or dropped. Drop and reader-close paths call it
    // with the channel mutex held, the delivery path without (and, to spare
    // the in-memory hot path, only for durable() stores).
    virtual void consumed(std::span<const uint64_t>) {}
    // [any thread] Makes what was appended and consumed so far kept (writes
    // it out). 0, or -errno: the store has failed, and keeps failing.
    virtual int flush() { return 0; }
    // [channel mutex] Non-zero (-errno) once the store refuses writes: the
    // channel then refuses each write with that errno (ENOSPC while a full
    // disk lasts, EIO/EROFS once the store has failed for good).
    virtual int failure() const { return 0; }
    // [channel mutex] What stats.storage_error shows for a durable store:
    // "ok", or why it refuses writes.
    virtual std::string health() const { return "ok"; }
    // [any thread] Whether the store can serve a channel with these settings
    // (a NATS store's stream depends on kind and replicas); if not, fs/ opens
    // a new one and moves the channel into it.
    virtual bool suits(const Settings &) const { return true; }
    // [channel mutex] Stats of its own (name, value) for stats.* (names.h).
    virtual void describe(std::vector<std::pair<std::string, std::string>> *) const {}
    // [channel mutex] Appends since `fromSeq` are taken back: flush()
    // refused them (a full disk), so the store forgets them too.
    virtual void cancelAppends(uint64_t /*fromSeq*/) {}
    // [channel mutex] Whether a write is acknowledged only after a sync
    // (fsync=always): the channel then hands its reply to
    // acknowledgeAfterSync() instead of answering it.
    virtual bool acknowledgesAfterSync() const { return false; }
    // [any thread] Answers `waiter` with `bytes` (or EIO) once what was
    // flushed before this call is on disk, from another thread; never
    // blocks the caller.
    virtual void acknowledgeAfterSync(std::unique_ptr<WriteWaiter> waiter, size_t bytes)
    {
        (void)waiter->done(bytes);
    }
    // [no channel mutex] The store is no longer wanted (durable turned
    // off, the channel removed): deletes what it kept. Later calls do
    // nothing. The queued image stays usable.
    virtual void destroy() {}
    // [no channel mutex] The channel was removed elsewhere (another mount,
    // seen through the shared tree) and whoever removed it deleted what is
    // shared: the store lets go of what it holds here (subscriptions, pulls,
    // its outbox) and deletes nothing shared. Later calls, and destroy()
    // after it, do nothing. A store that keeps nothing shared (memory,
    // journal: everything it keeps is local) does what destroy() does.
    virtual void abandon() { destroy(); }

    // ---- A store that originates messages (remote(): NATS) ------------
    // Local appends are not queued: the channel's admit() withdraws them
    // from the queue once flush() took them (withdrawSince), and they come
    // back through the StoreFeed in the stream's global order.
    virtual bool remote() const { return false; }
    // [no channel mutex] The channel's feed (kept weakly by the channel's
    // side; a store may outlive its channel).
    virtual void attach(std::shared_ptr<StoreFeed>) {}
    // [channel mutex] Bytes written but not yet kept by the store (its
    // outbox): counted against capacity with the queued ones.
    virtual uint64_t heldBytes() const { return 0; }
    // [channel mutex] Whether the store holds writes for now (its link is
    // down): a write then fits only if held plus its bytes fit capacity,
    // even into an empty channel, else it follows overflow.
    virtual bool holdingWrites() const { return false; }
    // [channel mutex] The largest message the store can keep (a NATS
    // server's max payload less header room); max_message is clamped to it.
    virtual uint64_t maxMessage() const { return UINT64_MAX; }
    // [channel mutex] `parked` reads wait on the channel, `queued`
    // messages are here for them and `readers` reading handles are open: a
    // store that fetches on demand asks for what they lack (and may fetch
    // ahead, queueing more than they wait for); one that holds fetched
    // messages no local reader takes may take them off the queue here and
    // give them back to where they came from (no reader left).
    virtual void readersWaiting(size_t /*parked*/, size_t /*queued*/, size_t /*readers*/) {}
    // Takes appends after `m` off the queue without telling the store (it
    // has them already: a remote store's outbox).
    void withdrawSince(MessageLog::BackMark m) { log_.rollback(m); }

    // ---- Moving between stores [channel mutex] --------------------------
    // Takes over `from`'s queued entries (the channel switches store).
    void adoptQueued(MessageStore &from)
    {
        log_ = std::move(from.log_);
        log_.setObserver(observer_);
    }

protected:
    MessageStore() = default;
    // Recovery at mount: appends an entry read back, keeping its seq (above
    // every seq queued), without telling the observer.
    void restoreEntry(Entry e) { log_.restoreBack(std::move(e)); }
    // The next appended entry gets at least this sequence number.
    void continueNumberingAt(uint64_t next) { log_.reserveSeq(next); }
    // Every later append is reported to `o` (null: none).
    void observeAppends(LogObserver *o)
    {
        observer_ = o;
        log_.setObserver(o);
    }

private:
    MessageLog log_;
    LogObserver *observer_ = nullptr;
};

// Every channel starts in memory (channels/storage/memory_store.cpp).
std::shared_ptr<MessageStore> makeMemoryStore();

}  // namespace chanfs
