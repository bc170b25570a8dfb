// A channel: settings, stored messages, the open handles and the requests
// waiting on it. Kind-specific behaviour lives in a KindPolicy (kinds/*.cpp),
// which sees the channel through ChannelView (channel_view.h); where the
// messages live in a MessageStore (message_store.h), memory until fs/ picks
// another from the storage registry.
//
// Threading contract: Channel is thread-safe. One mutex per channel guards
// all of its state. Waiters are completed (replied) only after that mutex is
// released, so a reply may call back into the channel (a failed delivery
// puts its data back). Lock order when a caller also holds its own lock
// (e.g. fs/'s inode table): caller's lock first, then the channel's, and
// never a reply while holding either. A channel's mutex comes before the
// memory budget's (memory_budget.h); waking writers that wait for memory
// takes other channels' mutexes, so it runs only with no channel mutex held,
// and the last reference to a channel (its destructor wakes them too) must
// not be dropped while holding one. A store's own lock (a journal's) comes
// after the channel's.
#pragma once

#include <sys/uio.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <memory_resource>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "channels/base/buffer.h"
#include "channels/base/mutex.h"
#include "channels/base/settings.h"
#include "channels/base/waiters.h"
#include "channels/core/channel_view.h"
#include "channels/core/message_store.h"
#include "channels/framing/framing.h"

namespace chanfs {

class Channel;
class KindPolicy;

// What a watcher (a handle that neither reads nor writes) is woken for: a
// change in any of these.
struct WatchedStats {
    uint64_t queuedMessages = 0;
    uint64_t queuedBytes = 0;
    uint64_t readers = 0;
    uint64_t writers = 0;
    uint64_t blockedReaders = 0;
    uint64_t blockedWriters = 0;
    bool operator==(const WatchedStats &) const = default;
};

// One open() of a channel: reader and/or writer, or a watcher that is
// neither (it only polls, see Channel::poll). The channel owns its state;
// the opener keeps the shared_ptr and must call Channel::release() once.
class Handle : public std::enable_shared_from_this<Handle> {
public:
    Handle(uint64_t id, bool reads, bool writes) : id_(id), reads_(reads), writes_(writes) {}
    uint64_t id() const { return id_; }
    bool reads() const { return reads_; }
    bool writes() const { return writes_; }
    bool watches() const { return !reads_ && !writes_; }

private:
    // The channel owns a handle's state; kinds reach it through ChannelView.
    friend class Channel;

    const uint64_t id_;
    const bool reads_;
    const bool writes_;
    // Guarded by the owning channel's mutex.
    bool released_ = false;
    // Entries this handle reads before the shared log: the rest of a message
    // it read in part, or (topic) deliveries that failed and come again.
    std::deque<Entry> pending_;
    std::string held_;         // writer: partial message awaiting its end
    bool oneMessage_ = false;  // reader: at most one whole message per read
    std::shared_ptr<PollNotifier> poll_;
    unsigned reportedEvents_ = 0;
    WatchedStats watchSeen_;                      // watcher: the stats as of its open or last poll
    std::unique_ptr<KindHandleState> kindState_;  // the kind policy's
};

struct ReadRequest {
    size_t maxBytes = 0;
    bool nonblock = false;
    // A later chunk of one read(2) larger than a FUSE request: answered at
    // once, possibly empty, never with an end-of-stream.
    bool continuation = false;
};

struct WriteRequest {
    std::span<const char> data;
    bool nonblock = false;
};

struct ChannelStats {
    uint64_t queuedMessages = 0;
    uint64_t queuedBytes = 0;
    uint64_t readers = 0;
    uint64_t writers = 0;
    uint64_t blockedReaders = 0;
    uint64_t blockedWriters = 0;
    uint64_t inMessages = 0;
    uint64_t inBytes = 0;
    uint64_t outMessages = 0;
    uint64_t outBytes = 0;
    uint64_t drops = 0;
    uint64_t droppedBytes = 0;
    // Bytes ever queued: written, plus what a journal restored at mount.
    // A channel's st_size: it never shrinks under a reader, so `tail -f`
    // never takes a read for a truncation (and never tries to seek back).
    uint64_t totalBytes = 0;
    // The bytes the slowest reader has yet to read (a topic's slowest
    // subscriber: the early warning before drop-oldest drops).
    uint64_t maxBacklogBytes = 0;
    timespec lastWrite{};
    std::string storageError;  // a durable channel's journal: "ok" or what failed
    // The store's own stats (a NATS store: backend, nats_connected, ...).
    std::vector<std::pair<std::string, std::string>> storeStats;
};

// What a read takes, kept so a failed reply can put it back.
struct Delivery {
    std::shared_ptr<Handle> handle;
    EntryList slices;               // the bytes handed over, in order
    size_t fromPending = 0;         // leading slices that came from handle pending
    bool endOfStream = false;       // a pipe mark was taken (no slices)
    Entry mark;                     // the mark, to put back
    bool createdRemainder = false;  // the last slice's rest went to pending
    uint64_t messages = 0;          // whole messages completed by it
    uint64_t bytes = 0;
};

class Channel final : public std::enable_shared_from_this<Channel>, private ChannelView {
public:
    static std::shared_ptr<Channel> create(const Settings &settings, std::string name);
    // Finds a live channel by id (interrupt callbacks carry only the id,
    // since they may run after the request's file was released).
    static std::shared_ptr<Channel> find(uint64_t id);
    ~Channel();
    Channel(const Channel &) = delete;
    Channel &operator=(const Channel &) = delete;

    uint64_t id() const { return id_; }
    // For log lines only.
    void rename(std::string name);
    std::string name() const;

    std::shared_ptr<Handle> open(bool reads, bool writes);
    void release(Handle &h);

    // Completes `waiter` exactly once: now, or when data arrives.
    void read(Handle &h, const ReadRequest &req, std::unique_ptr<ReadWaiter> waiter);
    // As read(), but where the read would have to wait it changes nothing,
    // leaves `waiter` with the caller and returns false: the caller arms
    // what may cancel a parked read (a FUSE interrupt) and then calls
    // read(), so the common read that finds data registers nothing.
    // True: `waiter` was taken and completed.
    bool readOrReturn(Handle &h, const ReadRequest &req, std::unique_ptr<ReadWaiter> &waiter);
    // Completes `waiter` exactly once: now, or when room arrives.
    void write(Handle &h, const WriteRequest &req, std::unique_ptr<WriteWaiter> waiter);
    // As write(), but where the write would have to wait it changes
    // nothing, leaves `waiter` with the caller and returns false: the caller
    // arms what may cancel a parked write (a FUSE interrupt) and then calls
    // write(), so the common write that never waits registers nothing.
    // True: `waiter` was taken and is (or will be) completed.
    bool writeOrReturn(Handle &h, const WriteRequest &req, std::unique_ptr<WriteWaiter> &waiter);
    // Fails the parked request with this key with EINTR; false if none.
    bool cancel(uintptr_t key);
    // Makes every read of `h` (a reader) take at most one whole message, so
    // competing readers such as socket clients take turns message by message.
    void setOneMessagePerRead(Handle &h);
    // Puts bytes a reader took but could not pass on (a bridge whose FIFO
    // reader went away) back in front of what `h` reads next.
    void unread(Handle &h, std::string_view data);

    // Current readiness (POLLIN/POLLOUT/POLLHUP bits); keeps `notifier` (if
    // given) to be woken on every later change. A watcher is readable
    // (POLLIN) once its WatchedStats changed since its open or its last
    // poll, which this poll then takes as seen; POLLHUP once the channel
    // lost its name.
    unsigned poll(Handle &h, std::shared_ptr<PollNotifier> notifier);

    Settings settings() const;
    // The largest message a write may carry: max_message, or the store's
    // lower limit (a NATS server's max payload less header room).
    uint64_t maxMessage() const;
    // Changes one setting by name. -EINVAL bad value, -EBUSY kind/framing
    // while handles are open, -ENODATA unknown name; `why` says why.
    int changeSetting(std::string_view name, std::string_view value, std::string *why);
    ChannelStats stats() const;
    uint64_t queuedBytes() const;
    bool hasOpenHandles() const;

    // Where the messages live (message_store.h). useStore() moves the
    // channel into `store`: with carryQueued, what the channel queues now
    // goes into it and is recorded there (durable just turned on);
    // otherwise the store brings what it recovered (at mount, before any
    // handle opens) and replaces what the channel held. 0, or (carryQueued
    // only) -errno from the store's first flush: the channel then stays
    // where it was and the caller destroys `store`. A recovered store that
    // failed is used all the same: it serves what it recovered and refuses
    // writes with its failure().
    int useStore(std::shared_ptr<MessageStore> store, bool carryQueued);
    // A remote store's feed (message_store.h's StoreFeed): messages from its
    // stream are queued as if written here; parked requests try again.
    void arrive(std::vector<Payload> &messages);
    void retryParked();
    // Moves the channel back into memory; returns the store it left (to
    // destroy() it, or nothing).
    std::shared_ptr<MessageStore> leaveStore();
    std::shared_ptr<MessageStore> messageStore() const;
    // Memory was freed elsewhere (MemoryBudget::wakeWaiters): writers
    // waiting for memory try again, pollers see POLLOUT. Call with no
    // channel mutex held.
    void retryForMemory();
    // What a queued message costs in the memory budget besides its bytes:
    // about what the allocator spends on its payload and log entry.
    static constexpr uint64_t kQueuedMessageOverheadBytes = 128;

    // The channel lost its name: waiting readers get end-of-stream.
    void detach();
    // The daemon is stopping: waiting readers get end-of-stream, waiting
    // writers EPIPE.
    void shutdown();
    // The far end is gone (a socket peer hung up): as shutdown(), and every
    // later write fails with EPIPE.
    void breakPipe();

    explicit Channel(const Settings &settings, std::string name);

    // How long a kind may hold a read back to answer it with more at once
    // (a topic's fan-out batching, topic.h), as the timer below runs it.
    static constexpr std::chrono::milliseconds kHoldWindow{2};
    // Runs a task after a delay on some other thread; false if it cannot.
    using WakeScheduler = std::function<bool(std::chrono::milliseconds, std::function<void()>)>;
    // Installs the timer that answers held reads (the daemon's event
    // loop); an empty one turns holding off. `window` is kHoldWindow but
    // for tests, which must not depend on how fast they run. Thread-safe.
    static void setWakeScheduler(WakeScheduler scheduler,
                                 std::chrono::milliseconds window = kHoldWindow);

private:
    struct ParkedRead {
        Handle *handle;
        size_t maxBytes;
        std::unique_ptr<ReadWaiter> waiter;
    };
    struct ParkedWrite {
        Handle *handle;
        FramedWrite framed;
        size_t requestBytes;
        std::unique_ptr<WriteWaiter> waiter;
    };
    // Room for one read reply (about 140 bytes), the write it answers and
    // the lists' first growth.
    static constexpr size_t kActionsArenaBytes = 512;
    // Replies and wake-ups gathered under the lock, carried out after it.
    // A call usually answers one or two requests: the lists start in an
    // arena inside the object (on the caller's stack), so a 1 KiB write and
    // its read cost no heap allocation here; a crowd of readers spills into
    // the heap. Measured (callgrind, 1 KiB write + read): 3 allocations and
    // about 10% of the daemon's own instructions per message.
    struct Actions {
        Actions() = default;
        Actions(const Actions &) = delete;
        Actions &operator=(const Actions &) = delete;
        // Empties every list (their room in the arena is kept).
        void clear();

        alignas(std::max_align_t) std::byte arena[kActionsArenaBytes];
        std::pmr::monotonic_buffer_resource memory{arena, sizeof arena};
        std::pmr::vector<std::pair<std::unique_ptr<ReadWaiter>, Delivery>> reads{&memory};
        std::pmr::vector<std::pair<std::unique_ptr<WriteWaiter>, size_t>> writes{&memory};
        std::pmr::vector<std::pair<std::unique_ptr<ReadWaiter>, int>> readErrors{&memory};
        std::pmr::vector<std::pair<std::unique_ptr<WriteWaiter>, int>> writeErrors{&memory};
        std::pmr::vector<std::shared_ptr<PollNotifier>> polls{&memory};
        std::pmr::vector<std::shared_ptr<PollNotifier>> retired{&memory};
    };

    // ChannelView, for the kind policy.
    MessageStore &store() override REQUIRES(mu_) { return *store_; }
    const MessageStore &store() const override REQUIRES(mu_) { return *store_; }
    const Settings &config() const override REQUIRES(mu_) { return settings_; }
    const std::string &label() const override REQUIRES(mu_) { return name_; }
    uint64_t readerCount() const override REQUIRES(mu_) { return stats_.readers; }
    uint64_t writerCount() const override REQUIRES(mu_) { return stats_.writers; }
    void countDrop(uint64_t bytes) override REQUIRES(mu_);
    std::deque<Entry> &pendingOf(Handle &h) override { return h.pending_; }
    const std::deque<Entry> &pendingOf(const Handle &h) const override { return h.pending_; }
    // delivery=one, or a socket bridge's own handle.
    bool readsOneMessage(const Handle &h) const override REQUIRES(mu_)
    {
        return h.oneMessage_ || settings_.delivery == ReadDelivery::One;
    }
    bool isReleased(const Handle &h) const override { return h.released_; }
    std::unique_ptr<KindHandleState> &kindStateOf(Handle &h) override { return h.kindState_; }
    const KindHandleState *kindStateOf(const Handle &h) const override
    {
        return h.kindState_.get();
    }
    std::chrono::milliseconds holdWindow() const override;

    // Answers what parked requests can take now; releaseHeld: also reads
    // held back by the kind (their window is over).
    void pump(Actions &acts, bool releaseHeld = false) REQUIRES(mu_);
    bool fits(uint64_t bytes) const REQUIRES(mu_);
    // Brings this channel's charge in the memory budget up to date with
    // what it queues; notes whether writers elsewhere may now get in.
    void syncBudget() REQUIRES(mu_);
    // -EMSGSIZE if `framed` can never fit in the memory budget, else 0.
    int checkBudgetSize(const FramedWrite &framed) REQUIRES(mu_);
    // Whether the writer's unfinished message after `framed` is already
    // more than the memory budget could ever hold.
    bool heldOverBudget(const Handle &h, const FramedWrite &framed, size_t dataBytes) const;
    void commit(Handle &h, FramedWrite &framed) REQUIRES(mu_);
    int admit(Handle &h, FramedWrite &framed, bool nonblock) REQUIRES(mu_);
    // write() and writeOrReturn(): with mayPark false, a write that would
    // wait returns false with `waiter` untouched and nothing changed.
    bool writeImpl(Handle &h, const WriteRequest &req, std::unique_ptr<WriteWaiter> &waiter,
                   bool mayPark) EXCLUDES(mu_);
    // read() and readOrReturn(): with mayPark false, a read that would wait
    // returns false with `waiter` untouched and nothing changed.
    bool readImpl(Handle &h, const ReadRequest &req, std::unique_ptr<ReadWaiter> &waiter,
                  bool mayPark) EXCLUDES(mu_);
    bool tryTake(Handle &h, size_t maxBytes, bool continuation, Delivery &out) REQUIRES(mu_);
    void undo(Delivery &d) REQUIRES(mu_);
    unsigned events(const Handle &h) const REQUIRES(mu_);
    WatchedStats watched() const REQUIRES(mu_);
    void collectPolls(Actions &acts) REQUIRES(mu_);
    // Called locked, returns unlocked: replies run with the lock released.
    // The request in hand is answered first (writesFirst from write()):
    // its caller is running now and goes on sooner, and readers woken a
    // moment later find more to take.
    void runActions(Actions &acts, bool writesFirst = false) RELEASE(mu_);
    void setPolicy(Kind kind) REQUIRES(mu_);
    // Whether reads may be held back now (the kind batches, a timer runs).
    bool batching() const REQUIRES(mu_);
    // Asks for holdWake() after the hold window (once); false if no timer.
    bool armHoldWake() REQUIRES(mu_);
    void holdWake();

    const uint64_t id_;
    mutable Mutex mu_;
    std::string name_ GUARDED_BY(mu_);
    Settings settings_ GUARDED_BY(mu_);
    std::shared_ptr<MessageStore> store_ GUARDED_BY(mu_);
    std::unique_ptr<KindPolicy> policy_ GUARDED_BY(mu_);
    std::unordered_set<Handle *> handles_ GUARDED_BY(mu_);
    std::unordered_set<Handle *> polled_ GUARDED_BY(mu_);
    std::list<ParkedRead> parkedReads_ GUARDED_BY(mu_);
    std::list<ParkedWrite> parkedWrites_ GUARDED_BY(mu_);
    std::unordered_map<uintptr_t, std::list<ParkedRead>::iterator> parkedReadIndex_ GUARDED_BY(mu_);
    ChannelStats stats_ GUARDED_BY(mu_);
    bool detached_ GUARDED_BY(mu_) = false;
    bool broken_ GUARDED_BY(mu_) = false;
    bool scanAllParked_ GUARDED_BY(mu_) = false;
    bool holdWakeArmed_ GUARDED_BY(mu_) = false;
    // Messages were queued since pollers were last notified.
    bool newMessages_ GUARDED_BY(mu_) = false;
    uint64_t nextHandleId_ GUARDED_BY(mu_) = 1;
    // Bytes charged to the memory budget: the store's queued bytes plus the
    // per-message overhead, as of the last syncBudget(), plus admissions since.
    uint64_t chargedBytes_ GUARDED_BY(mu_) = 0;
    // A release let memory waiters in: wake them once the lock is dropped.
    bool wakeBudget_ GUARDED_BY(mu_) = false;
};

}  // namespace chanfs
