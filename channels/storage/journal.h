// A durable channel's message log on disk: segment files in one directory
// of the state directory, each a header and CRC-checked records
// (journal_format.h):
//   'M' seq, message bytes     a message (or a pipe's chunk) was accepted
//   'E' seq                    a pipe's end-of-stream mark was queued
//   'G' seq...                 these were consumed or dropped (queue, pipe)
// Segments are named by the first sequence number written to them and
// rotated at kSegmentBytes. A queue's or pipe's journal also keeps a small
// file `consumed` (two CRC-checked slots overwritten in turn, so a torn
// overwrite leaves the older one): every sequence number below its mark is
// consumed, and the numbering had reached its next seq. Recovery trusts it
// when the 'G' records after a message are lost, and it makes a missing
// segment or end of segment visible. A queue's or pipe's segment is deleted once it
// and every older one hold nothing unconsumed (a 'G' record can then only
// refer to deleted segments); a topic's oldest segments are deleted once the
// newer ones alone hold its retention (retention_messages or
// retention_bytes).
//
// Faults (docs/storage-faults.md, "## Journal"): a write the file system
// refuses with ENOSPC or EDQUOT is cut back off the segment and reported to
// the caller, who drops it (cancelAppends); the next write tries again. Any
// other write error, and every failed fdatasync, puts the journal into a
// lasting error state (a failed fdatasync may have dropped the dirty pages:
// it is never retried as if it had worked); health() says why. Recovery
// skips a damaged record and resumes at the next valid one, logs every gap
// with the file, the sequence numbers and the count, keeps a damaged file
// aside as NAME.damaged before writing a clean copy, and brings a channel
// whose files cannot be read up in the error state instead of failing.
//
// Threading contract: thread-safe; one mutex per journal, taken after the
// owning channel's mutex (the channel calls appended() with its own held),
// never held while calling into a channel. JournalSyncer's mutex is taken
// after a journal's, and the syncer never holds its own while it syncs one.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "channels/base/buffer.h"
#include "channels/base/mutex.h"
#include "channels/base/settings.h"
#include "channels/base/unique_fd.h"
#include "channels/base/waiters.h"
#include "channels/storage/syncable.h"

namespace chanfs {

inline constexpr char kSegmentMagic[] = "CHANFSD1";
inline constexpr uint64_t kSegmentBytes = 4 * kMiB;
inline constexpr std::chrono::milliseconds kBatchSyncInterval{10};

// What a journal held when it was opened: messages and marks not consumed,
// in order, with their sequence numbers.
struct RecoveredLog {
    std::vector<Entry> entries;
    uint64_t nextSeq = 1;   // the log's numbering continues from here
    uint64_t cutBytes = 0;  // bytes of torn or corrupt records cut off
    uint64_t segments = 0;  // segment files kept
    // Messages and marks known to be missing (damaged records, missing
    // segments), not counting those recorded as consumed.
    uint64_t lostEntries = 0;
    // Damaged files kept aside as *.damaged.
    uint64_t keptAside = 0;
};

// What a journal can still do; see health().
struct JournalHealth {
    int error = 0;         // 0, or the -errno of the last failure
    bool lasting = false;  // every later write fails with `error`
    std::string reason;    // for the log and stats.storage_error
};

// A test seam for the calls the journal makes on its files. The hook is
// called before each one; 0 lets the call go ahead, a negative errno makes
// it fail with that errno, and for Write a positive n writes only the first
// n bytes and then fails with ENOSPC (a file system that filled up half-way).
enum class JournalOp { Write, Sync, Truncate, Create };
using JournalFaultHook = std::function<int(JournalOp op, const std::string &path, size_t bytes)>;
// Installs `hook` (an empty function removes it). Tests only; not for use
// while journals are being written on other threads.
void setJournalFaultHook(JournalFaultHook hook);

class Journal final : public LogObserver,
                      public Syncable,
                      public std::enable_shared_from_this<Journal> {
public:
    // Opens the log in `dir` (made if missing) for a channel with settings
    // `s`; `label` names the channel in log lines. What the log holds lands
    // in `rec`; torn or corrupt records are logged and skipped, never
    // returned. Always 0 with a journal in `out`: one that cannot be made,
    // read or repaired comes up in the lasting error state (failure() < 0,
    // the reason also in `why`), serving what could be read, so one damaged
    // channel never stops a mount.
    static int open(const std::string &dir, const Settings &s, const std::string &label,
                    std::shared_ptr<Journal> *out, RecoveredLog *rec, std::string *why);
    // Only open() makes journals (make_shared needs a public constructor).
    struct Token {
        explicit Token() = default;
    };
    Journal(Token, std::string dir, const Settings &s, std::string label);
    ~Journal() override;
    Journal(const Journal &) = delete;
    Journal &operator=(const Journal &) = delete;

    // Buffers a record for an appended entry (channel mutex held).
    void appended(const Entry &e) override;
    // Buffers a record that these entries are consumed or dropped. Ignored
    // for topics, whose log is trimmed by retention instead.
    void gone(std::span<const uint64_t> seqs);
    // Forgets the buffered records of entries numbered fromSeq and above,
    // after flush() refused them: the channel rolls them back too. Records
    // of consumption stay buffered for the next flush.
    void cancelAppends(uint64_t fromSeq);
    // Writes what is buffered to the active segment, rotating and deleting
    // segments as needed. 0; -ENOSPC or -EDQUOT when the file system is
    // full (nothing of the buffer stays in the file, the buffer is kept, the
    // next flush tries again); any other -errno puts the journal into the
    // lasting error state, and every later flush fails the same way.
    int flush();
    // 0, or the -errno of the lasting error state (the channel refuses writes with it).
    int failure() const;
    JournalHealth health() const;
    // "ok", or the errno name and the reason: stats.storage_error.
    std::string healthText() const;
    int sync() override;
    // Takes the fsync policy and retention from new settings.
    void configure(const Settings &s);
    // Deletes every segment and the directory (durable turned off, the
    // channel removed); later calls do nothing.
    void destroy();
    size_t segmentCount() const;
    const std::string &dir() const { return dir_; }

private:
    struct Segment {
        std::string path;
        uint64_t live = 0;      // entries not yet consumed (queue, pipe)
        uint64_t messages = 0;  // message records (topic retention)
        uint64_t messageBytes = 0;
        uint64_t fileBytes = 0;
    };
    struct PendingEntry {
        uint64_t seq;
        uint64_t bytes;  // 0 for a mark
        bool mark;
        size_t bufOffset;  // where its record starts in buf_
    };
    class Recovery;
    int openActive(uint64_t firstSeq) REQUIRES(mu_);
    void trimSegments() REQUIRES(mu_);
    int fail(int err, const std::string &what) REQUIRES(mu_);
    int refuse(int err, const std::string &what) REQUIRES(mu_);
    bool tracksConsumption() const REQUIRES(mu_) { return settings_.kind != Kind::Topic; }
    uint64_t consumedBelow() const REQUIRES(mu_);
    int openConsumedFile() REQUIRES(mu_);
    void saveConsumed() REQUIRES(mu_);

    // Held for a whole sync(), fdatasync included: a sync() that finds
    // another one's fdatasync in flight waits for its result, rather than
    // answering 0 (nothing dirty) for writes not on disk yet. Lock order:
    // syncMu_, then mu_; only sync() takes it, with no other lock held.
    Mutex syncMu_ ACQUIRED_BEFORE(mu_);
    // After the owning channel's mutex, before JournalSyncer's (see the
    // threading contract above).
    mutable Mutex mu_;
    const std::string dir_;
    const std::string label_;
    Settings settings_ GUARDED_BY(mu_);
    std::map<uint64_t, Segment> segments_ GUARDED_BY(mu_);  // by first seq
    uint64_t activeFirst_ GUARDED_BY(mu_) = 0;
    UniqueFd active_ GUARDED_BY(mu_);
    std::string buf_ GUARDED_BY(mu_);      // 'M' and 'E' records not yet written
    std::string goneBuf_ GUARDED_BY(mu_);  // 'G' records not yet written
    std::vector<PendingEntry> pending_ GUARDED_BY(mu_);
    std::vector<uint64_t> goneSeqs_ GUARDED_BY(mu_);
    // Sequence numbers not yet consumed, in order, with whether each is
    // gone (consumed out of order): the front is the consumed mark.
    std::deque<std::pair<uint64_t, bool>> live_ GUARDED_BY(mu_);
    uint64_t nextSeq_ GUARDED_BY(mu_) = 1;  // after every entry appended so far
    UniqueFd consumedFd_ GUARDED_BY(mu_);
    uint64_t consumedGeneration_ GUARDED_BY(mu_) = 0;
    uint64_t savedConsumedBelow_ GUARDED_BY(mu_) = 0;
    bool consumedDirty_ GUARDED_BY(mu_) = false;  // written since the last sync
    bool dirty_ GUARDED_BY(mu_) = false;
    bool destroyed_ GUARDED_BY(mu_) = false;
    int failure_ GUARDED_BY(mu_) = 0;
    std::string failureWhat_ GUARDED_BY(mu_);
    int refused_ GUARDED_BY(mu_) = 0;  // the last ENOSPC/EDQUOT, until a flush succeeds
    std::string refusedWhat_ GUARDED_BY(mu_);
};

// One thread for every journal and the tree log: writes to an fsync=always channel are
// acknowledged here after their fdatasync, and fsync=batch journals are
// synced at most kBatchSyncInterval after they were written. The thread
// starts with the first use (after the daemon forked).
class JournalSyncer {
public:
    static JournalSyncer &instance();
    ~JournalSyncer();
    // Acknowledges `waiter` with `bytes` once `j` is synced (EIO if that fails).
    void afterSync(std::shared_ptr<Syncable> s, std::unique_ptr<WriteWaiter> waiter, size_t bytes);
    // Syncs `s` within kBatchSyncInterval.
    void markDirty(const std::shared_ptr<Syncable> &s);
    // Syncs and answers everything waiting, now, on the caller's thread,
    // after the batch the syncer thread may be answering (the daemon is
    // stopping: no reply may come after its session ends).
    void drain();

private:
    struct Ack {
        std::shared_ptr<Syncable> target;
        std::unique_ptr<WriteWaiter> waiter;
        size_t bytes;
    };
    JournalSyncer() = default;
    void run() EXCLUDES(mu_);
    void startThread() REQUIRES(mu_);
    // Runs with no lock held: Syncable::sync() takes the journal's mutex
    // and the waiters take their channel's.
    static void process(std::vector<Ack> acks, std::vector<std::weak_ptr<Syncable>> dirty);

    // A leaf lock: taken after a journal's (markDirty() is called from
    // flush paths), and nothing is locked while it is held.
    Mutex mu_;
    CondVar cv_;
    CondVar idle_;                       // busy_ went false
    bool busy_ GUARDED_BY(mu_) = false;  // the thread is answering a batch
    std::vector<Ack> acks_ GUARDED_BY(mu_);
    std::vector<std::weak_ptr<Syncable>> dirty_ GUARDED_BY(mu_);
    std::thread thread_ GUARDED_BY(mu_);
    bool stop_ GUARDED_BY(mu_) = false;
};

}  // namespace chanfs
