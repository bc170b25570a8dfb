// A channel: settings, stored messages, the open handles and the requests
// waiting on it. Kind-specific behaviour lives in a KindPolicy (pipe.cpp,
// queue.cpp, topic.cpp); storage in MessageLog (buffer.h).
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
// not be dropped while holding one.
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
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "channels/base/buffer.h"
#include "channels/base/settings.h"
#include "channels/base/waiters.h"
#include "channels/framing/framing.h"

namespace chanfs {

class Channel;
class KindPolicy;
class Journal;  // journal.h: a durable channel's log
struct RecoveredLog;
struct ChannelState;

// One open() of a channel: reader and/or writer. The channel owns its state;
// the opener keeps the shared_ptr and must call Channel::release() once.
class Handle : public std::enable_shared_from_this<Handle> {
public:
    Handle(uint64_t id, bool reads, bool writes) : id_(id), reads_(reads), writes_(writes) {}
    uint64_t id() const { return id_; }
    bool reads() const { return reads_; }
    bool writes() const { return writes_; }

private:
    friend class Channel;
    friend class KindPolicy;
    friend class ConsumingPolicy;
    friend class PipePolicy;
    friend class QueuePolicy;
    friend class TopicPolicy;

    const uint64_t id_;
    const bool reads_;
    const bool writes_;
    bool released_ = false;
    // Entries this handle reads before the shared log: the rest of a message
    // it read in part, or (topic) deliveries that failed and come again.
    std::deque<Entry> pending_;
    uint64_t cursor_ = 0;      // topic: sequence number of the next message
    std::string held_;         // writer: partial message awaiting its end
    bool oneMessage_ = false;  // reader: at most one whole message per read
    std::shared_ptr<PollNotifier> poll_;
    unsigned reportedEvents_ = 0;
    // topic reader: when its last read that returned data was answered;
    // empty until then ("never answered" is not "answered at boot").
    std::optional<std::chrono::steady_clock::time_point> lastDeliveryAt_;
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
    // The bytes the slowest reader has yet to read (a topic's slowest
    // subscriber: the early warning before drop-oldest drops).
    uint64_t maxBacklogBytes = 0;
    timespec lastWrite{};
};

// What a read takes, kept so a failed reply can put it back.
struct Delivery {
    std::shared_ptr<Handle> handle;
    std::vector<Entry> slices;      // the bytes handed over, in order
    size_t fromPending = 0;         // leading slices that came from handle pending
    bool endOfStream = false;       // a pipe mark was taken (no slices)
    Entry mark;                     // the mark, to put back
    bool createdRemainder = false;  // the last slice's rest went to pending
    uint64_t messages = 0;          // whole messages completed by it
    uint64_t bytes = 0;
};

class Channel : public std::enable_shared_from_this<Channel> {
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
    // Completes `waiter` exactly once: now, or when room arrives.
    void write(Handle &h, const WriteRequest &req, std::unique_ptr<WriteWaiter> waiter);
    // Fails the parked request with this key with EINTR; false if none.
    bool cancel(uintptr_t key);
    // Makes every read of `h` (a reader) take at most one whole message, so
    // competing readers such as socket clients take turns message by message.
    void setOneMessagePerRead(Handle &h);
    // Puts bytes a reader took but could not pass on (a bridge whose FIFO
    // reader went away) back in front of what `h` reads next.
    void unread(Handle &h, std::string_view data);

    // Current readiness (POLLIN/POLLOUT/POLLHUP bits); keeps `notifier` (if
    // given) to be woken on every later change.
    unsigned poll(Handle &h, std::shared_ptr<PollNotifier> notifier);

    Settings settings() const;
    // Changes one setting by name. -EINVAL bad value, -EBUSY kind/framing
    // while handles are open, -ENODATA unknown name; `why` says why.
    int changeSetting(std::string_view name, std::string_view value, std::string *why);
    ChannelStats stats() const;
    uint64_t queuedBytes() const;
    bool hasOpenHandles() const;

    // Durable channels (journal.h). restore() fills an empty channel with
    // what its journal held, before any handle opens; attachJournal()
    // then records every later change (and first writes what the channel
    // holds now if `recordQueued`: durable was just turned on). 0 or -errno.
    void restore(RecoveredLog &rec);
    int attachJournal(std::shared_ptr<Journal> journal, bool recordQueued);
    // Stops recording; returns the journal (to destroy() it, or nothing).
    std::shared_ptr<Journal> detachJournal();
    std::shared_ptr<Journal> journal() const;
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

    // Fan-out batching. On a topic with kBatchMinReaders subscribers or
    // more, one write would wake them all for a message each, and on FUSE
    // every wake costs a reply and a new READ: 64 subscribers spent 64
    // requests per message. So a blocking read by a subscriber that was
    // last answered less than kBatchWindow ago, with less than half its
    // buffer ready, waits for the window's end and then takes everything
    // at once. A subscriber idle for longer (sporadic messages) is
    // answered at once; so is one whose buffer is half full.
    static constexpr size_t kBatchMinReaders = 16;
    static constexpr std::chrono::milliseconds kBatchWindow{2};
    // Runs a task after a delay on some other thread; false if it cannot.
    using WakeScheduler = std::function<bool(std::chrono::milliseconds, std::function<void()>)>;
    // Installs the timer used by fan-out batching (the daemon's event
    // loop); an empty one turns batching off. `window` is kBatchWindow but
    // for tests, which must not depend on how fast they run. Thread-safe.
    static void setWakeScheduler(WakeScheduler scheduler,
                                 std::chrono::milliseconds window = kBatchWindow);

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
    struct Actions;

    using Lock = std::unique_lock<std::mutex>;

    // Answers what parked requests can take now; releaseHeld: also readers
    // held for fan-out batching (their window is over).
    void pump(Actions &acts, bool releaseHeld = false);
    bool fits(uint64_t bytes) const;
    // Brings this channel's charge in the memory budget up to date with
    // what it queues; notes whether writers elsewhere may now get in.
    void syncBudget();
    // -EMSGSIZE if `framed` can never fit in the memory budget, else 0.
    int checkBudgetSize(const FramedWrite &framed);
    // Whether the writer's unfinished message after `framed` is already
    // more than the memory budget could ever hold.
    bool heldOverBudget(const Handle &h, const FramedWrite &framed, size_t dataBytes) const;
    void commit(Handle &h, FramedWrite &framed);
    int admit(Handle &h, FramedWrite &framed, bool nonblock);
    bool tryTake(Handle &h, size_t maxBytes, bool continuation, Delivery &out);
    void undo(Delivery &d);
    unsigned events(const Handle &h) const;
    void collectPolls(Actions &acts);
    // Replies run with the lock released. The request in hand is answered
    // first (writesFirst from write()): its caller is running now and goes
    // on sooner, and readers woken a moment later find more to take.
    void runActions(Lock &lock, Actions &acts, bool writesFirst = false);
    void setPolicy(Kind kind);
    // A queued entry was dropped or consumed outside a delivery: the
    // journal (if any) records it.
    void noteGone(const Entry &e);
    // Fan-out batching: on for a topic with kBatchMinReaders reader handles
    // or more while a timer is installed; whether a read of `h` waits.
    bool batching() const;
    bool holdForBatch(const Handle &h, size_t maxBytes,
                      std::chrono::steady_clock::time_point now) const;
    // Asks for batchWake() after kBatchWindow (once); false if no timer runs.
    bool armBatchWake();
    void batchWake();

    const uint64_t id_;
    mutable std::mutex mu_;
    std::string name_;
    Settings settings_;
    MessageLog log_;
    std::shared_ptr<Journal> journal_;  // durable channels
    std::unique_ptr<KindPolicy> policy_;
    std::unordered_set<Handle *> handles_;
    std::unordered_set<Handle *> polled_;
    std::multiset<uint64_t> cursors_;  // topic: cursors of reader handles
    std::list<ParkedRead> parkedReads_;
    std::list<ParkedWrite> parkedWrites_;
    std::unordered_map<uintptr_t, std::list<ParkedRead>::iterator> parkedReadIndex_;
    ChannelStats stats_;
    bool detached_ = false;
    bool broken_ = false;
    bool scanAllParked_ = false;
    bool batchWakeArmed_ = false;
    uint64_t nextHandleId_ = 1;
    // Bytes charged to the memory budget: log_.bytes() plus the per-message
    // overhead, as of the last syncBudget(), plus admissions since.
    uint64_t chargedBytes_ = 0;
    // A release let memory waiters in: wake them once the lock is dropped.
    bool wakeBudget_ = false;

    friend class KindPolicy;
    friend class ConsumingPolicy;
    friend class PipePolicy;
    friend class QueuePolicy;
    friend class TopicPolicy;
};

}  // namespace chanfs
