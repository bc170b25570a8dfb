#include "channels/storage/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <set>

#include "channels/base/file_io.h"
#include "channels/base/latency_histogram.h"
#include "channels/storage/journal_format.h"

namespace chanfs {

namespace {

// fdatasync, timed for the metrics endpoint (how long the disk makes
// durable writers wait).
int timedFdatasync(int fd)
{
    const auto start = std::chrono::steady_clock::now();
    const int rc = ::fdatasync(fd);
    const int err = errno;
    journalFsyncLatency().observe(std::chrono::steady_clock::now() - start);
    errno = err;
    return rc;
}

std::string segmentName(uint64_t firstSeq)
{
    char name[32];
    std::snprintf(name, sizeof name, "%020" PRIu64 ".seg", firstSeq);
    return name;
}

// The first seq of a segment file name, or false for any other file.
bool parseSegmentName(const std::string &name, uint64_t *seq)
{
    if (name.size() != 24 || name.compare(20, 4, ".seg") != 0) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < 20; ++i) {
        if (name[i] < '0' || name[i] > '9') return false;
        v = v * 10 + static_cast<uint64_t>(name[i] - '0');
    }
    *seq = v;
    return true;
}

int makeDirs(const std::string &dir)
{
    for (size_t pos = 1; pos <= dir.size(); ++pos) {
        if (pos != dir.size() && dir[pos] != '/') continue;
        const std::string part = dir.substr(0, pos);
        if (::mkdir(part.c_str(), 0700) < 0 && errno != EEXIST) return -errno;
    }
    return 0;
}

}  // namespace

Journal::Journal(Token, std::string dir, const Settings &s, std::string label)
    : dir_(std::move(dir)), label_(std::move(label)), settings_(s)
{
}

Journal::~Journal() = default;

int Journal::open(const std::string &dir, const Settings &s, const std::string &label,
                  std::shared_ptr<Journal> *out, RecoveredLog *rec, std::string *why)
{
    if (int rc = makeDirs(dir); rc < 0) {
        *why = "cannot make " + dir + ": " + std::strerror(-rc);
        return rc;
    }
    auto j = std::make_shared<Journal>(Token{}, dir, s, label);
    std::vector<uint64_t> firsts;
    {
        DIR *d = ::opendir(dir.c_str());
        if (!d) {
            *why = "cannot read " + dir + ": " + std::strerror(errno);
            return -errno;
        }
        while (dirent *e = ::readdir(d)) {
            uint64_t seq;
            if (parseSegmentName(e->d_name, &seq)) firsts.push_back(seq);
        }
        ::closedir(d);
    }
    std::sort(firsts.begin(), firsts.end());
    std::map<uint64_t, Entry> entries;  // by seq
    std::map<uint64_t, uint64_t> segmentOf;
    std::set<uint64_t> gone;
    uint64_t nextSeq = 1;
    for (const uint64_t first : firsts) {
        const std::string path = dir + "/" + segmentName(first);
        std::string data;
        if (int rc = readWholeFile(path, &data); rc < 0) {
            *why = "cannot read " + path + ": " + std::strerror(-rc);
            return rc;
        }
        const ScanResult scan = scanRecords(data, kSegmentMagic);
        if (!scan.problem.empty()) {
            const uint64_t cut = data.size() - scan.validEnd;
            spdlog::error("durable channel {}: {}: {}; {} bytes cut off (their messages are lost)",
                          label, path, scan.problem, cut);
            rec->cutBytes += cut;
            if (scan.validEnd < kFileMagicBytes) {
                ::unlink(path.c_str());
                continue;
            }
            if (::truncate(path.c_str(), static_cast<off_t>(scan.validEnd)) < 0) {
                *why = "cannot cut the damaged end off " + path + ": " + std::strerror(errno);
                return -errno;
            }
        }
        Segment seg;
        seg.path = path;
        seg.fileBytes = scan.validEnd;
        nextSeq = std::max(nextSeq, first);
        for (const RecordView &r : scan.records) {
            PayloadReader in(r.payload);
            uint64_t seq = 0;
            if (r.type == 'M' || r.type == 'E') {
                if (!in.u64(&seq) || seq == 0) {
                    spdlog::error("durable channel {}: {}: malformed record at offset {}; skipped",
                                  label, path, r.offset);
                    continue;
                }
                Entry e;
                e.seq = seq;
                if (r.type == 'M') {
                    const std::string_view bytes = in.rest();
                    e.payload = makePayload(bytes.data(), bytes.size());
                    e.length = static_cast<uint32_t>(bytes.size());
                    ++seg.messages;
                    seg.messageBytes += bytes.size();
                }
                entries[seq] = std::move(e);
                segmentOf[seq] = first;
                ++seg.live;
                nextSeq = std::max(nextSeq, seq + 1);
            } else if (r.type == 'G') {
                while (in.u64(&seq)) gone.insert(seq);
            } else {
                spdlog::error(
                    "durable channel {}: {}: unknown record type {} at offset {}; skipped", label,
                    path, static_cast<int>(r.type), r.offset);
            }
        }
        j->segments_.emplace(first, std::move(seg));
    }
    if (s.kind != Kind::Topic) {
        for (const uint64_t seq : gone) {
            auto it = entries.find(seq);
            if (it == entries.end()) continue;
            auto seg = j->segments_.find(segmentOf[seq]);
            if (seg != j->segments_.end() && seg->second.live > 0) --seg->second.live;
            entries.erase(it);
        }
    } else {
        // A topic's reader positions need contiguous numbers: after a gap
        // (records cut off in the middle) only the newer run is kept.
        uint64_t expect = 0;
        auto runStart = entries.begin();
        for (auto it = entries.begin(); it != entries.end(); ++it) {
            if (expect && it->first != expect) runStart = it;
            expect = it->first + 1;
        }
        if (runStart != entries.begin()) {
            spdlog::error("durable channel {}: {} messages before a gap in the log are dropped",
                          label, std::distance(entries.begin(), runStart));
            entries.erase(entries.begin(), runStart);
        }
    }
    for (auto &[seq, e] : entries) rec->entries.push_back(std::move(e));
    rec->nextSeq = nextSeq;
    std::lock_guard g(j->mu_);
    j->trimSegments();
    const uint64_t activeFirst = j->segments_.empty() ? nextSeq : j->segments_.rbegin()->first;
    if (int rc = j->openActive(activeFirst); rc < 0) {
        *why = "cannot open a segment in " + dir + ": " + std::strerror(-rc);
        return rc;
    }
    rec->segments = j->segments_.size();
    *out = std::move(j);
    return 0;
}

// Needs mu_.
int Journal::openActive(uint64_t firstSeq)
{
    auto [it, fresh] = segments_.try_emplace(firstSeq);
    Segment &seg = it->second;
    if (fresh || seg.path.empty()) seg.path = dir_ + "/" + segmentName(firstSeq);
    UniqueFd fd(::open(seg.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!fd) return -errno;
    if (seg.fileBytes == 0) {
        if (::ftruncate(fd.get(), 0) < 0) return -errno;
        active_ = std::move(fd);
        activeFirst_ = firstSeq;
        if (int rc = writeFully(active_.get(), std::string_view(kSegmentMagic, kFileMagicBytes));
            rc < 0)
            return rc;
        seg.fileBytes = kFileMagicBytes;
        if (settings_.fsync != FsyncPolicy::Never) syncDirectory(dir_);
        return 0;
    }
    active_ = std::move(fd);
    activeFirst_ = firstSeq;
    return 0;
}

void Journal::appended(const Entry &e)
{
    std::lock_guard g(mu_);
    if (destroyed_) return;
    std::string payload;
    PayloadWriter w(payload);
    w.u64(e.seq);
    if (!e.isMark()) payload.append(e.data(), e.length);
    appendRecord(buf_, e.isMark() ? 'E' : 'M', payload);
    pending_.push_back(PendingEntry{e.seq, e.isMark() ? 0 : e.length, e.isMark()});
}

void Journal::gone(std::span<const uint64_t> seqs)
{
    std::lock_guard g(mu_);
    if (destroyed_ || settings_.kind == Kind::Topic || seqs.empty()) return;
    std::string payload;
    PayloadWriter w(payload);
    for (const uint64_t seq : seqs) {
        if (seq == 0) continue;  // bytes a bridge put back: not in the log
        w.u64(seq);
        goneSeqs_.push_back(seq);
    }
    if (!payload.empty()) appendRecord(buf_, 'G', payload);
}

int Journal::fail(int err, const std::string &what)
{
    if (!failure_)
        spdlog::error("durable channel {}: {}: {}; its writes now fail with EIO", label_, what,
                      std::strerror(-err));
    failure_ = err;
    return err;
}

int Journal::flush()
{
    std::lock_guard g(mu_);
    if (failure_) return failure_;
    if (destroyed_ || buf_.empty()) return 0;
    Segment *seg = &segments_[activeFirst_];
    if (!pending_.empty() && seg->fileBytes >= kSegmentBytes) {
        // Rotate: the finished segment is synced before it is closed, so
        // the policy holds for it without the syncer keeping its fd.
        if (settings_.fsync != FsyncPolicy::Never && timedFdatasync(active_.get()) < 0)
            return fail(-errno, "fdatasync " + seg->path);
        if (int rc = openActive(pending_.front().seq); rc < 0)
            return fail(rc, "cannot start a new segment in " + dir_);
        seg = &segments_[activeFirst_];
    }
    if (int rc = writeFully(active_.get(), buf_); rc < 0) return fail(rc, "write " + seg->path);
    seg->fileBytes += buf_.size();
    for (const PendingEntry &p : pending_) {
        ++seg->live;
        if (!p.mark) {
            ++seg->messages;
            seg->messageBytes += p.bytes;
        }
    }
    for (const uint64_t seq : goneSeqs_) {
        auto it = segments_.upper_bound(seq);
        if (it == segments_.begin()) continue;
        --it;
        if (it->second.live > 0) --it->second.live;
    }
    buf_.clear();
    pending_.clear();
    goneSeqs_.clear();
    trimSegments();
    if (!dirty_ && settings_.fsync == FsyncPolicy::Batch)
        JournalSyncer::instance().markDirty(shared_from_this());
    dirty_ = true;
    return 0;
}

// Needs mu_. Deletes the segments nothing needs any more (never the active one).
void Journal::trimSegments()
{
    auto drop = [this](std::map<uint64_t, Segment>::iterator it) {
        if (::unlink(it->second.path.c_str()) < 0 && errno != ENOENT)
            spdlog::warn("durable channel {}: cannot delete {}: {}", label_, it->second.path,
                         std::strerror(errno));
        return segments_.erase(it);
    };
    if (settings_.kind != Kind::Topic) {
        for (auto it = segments_.begin(); it != segments_.end() && it->second.live == 0;) {
            if (active_ && it->first == activeFirst_) break;
            if (std::next(it) == segments_.end() && !active_) break;  // becomes the active one
            it = drop(it);
        }
        return;
    }
    uint64_t messages = 0, bytes = 0;
    for (const auto &[first, seg] : segments_) {
        messages += seg.messages;
        bytes += seg.messageBytes;
    }
    while (segments_.size() > 1) {
        auto front = segments_.begin();
        if (active_ && front->first == activeFirst_) break;
        const uint64_t laterMessages = messages - front->second.messages;
        const uint64_t laterBytes = bytes - front->second.messageBytes;
        const bool pastMessages =
            settings_.retentionMessages && laterMessages >= settings_.retentionMessages;
        const bool pastBytes = settings_.retentionBytes && laterBytes >= settings_.retentionBytes;
        if (!pastMessages && !pastBytes) break;
        messages = laterMessages;
        bytes = laterBytes;
        drop(front);
    }
}

int Journal::failure() const
{
    std::lock_guard g(mu_);
    return failure_;
}

int Journal::sync()
{
    // fdatasync runs on a duplicate of the descriptor with the mutex
    // released: writes (under the channel's mutex) and consuming reads need
    // that mutex, and must not wait for the disk every batch interval.
    UniqueFd fd;
    {
        std::lock_guard g(mu_);
        if (failure_) return failure_;
        if (destroyed_ || !dirty_ || !active_) return 0;
        fd.reset(::fcntl(active_.get(), F_DUPFD_CLOEXEC, 0));
        if (!fd) return fail(-errno, "dup for fdatasync of " + dir_);
        dirty_ = false;
    }
    if (timedFdatasync(fd.get()) < 0) {
        const int err = -errno;
        std::lock_guard g(mu_);
        return fail(err, "fdatasync " + dir_);
    }
    return 0;
}

void Journal::configure(const Settings &s)
{
    std::lock_guard g(mu_);
    settings_ = s;
    if (!destroyed_ && active_) trimSegments();
}

void Journal::destroy()
{
    std::lock_guard g(mu_);
    if (destroyed_) return;
    destroyed_ = true;
    active_.reset();
    for (auto &[first, seg] : segments_) ::unlink(seg.path.c_str());
    segments_.clear();
    buf_.clear();
    pending_.clear();
    goneSeqs_.clear();
    if (::rmdir(dir_.c_str()) < 0 && errno != ENOENT)
        spdlog::warn("durable channel {}: cannot remove {}: {}", label_, dir_,
                     std::strerror(errno));
}

size_t Journal::segmentCount() const
{
    std::lock_guard g(mu_);
    return segments_.size();
}

JournalSyncer &JournalSyncer::instance()
{
    static JournalSyncer syncer;
    return syncer;
}

JournalSyncer::~JournalSyncer()
{
    {
        std::lock_guard g(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void JournalSyncer::afterSync(std::shared_ptr<Syncable> target, std::unique_ptr<WriteWaiter> waiter,
                              size_t bytes)
{
    {
        std::lock_guard g(mu_);
        if (!thread_.joinable() && !stop_) thread_ = std::thread([this] { run(); });
        acks_.push_back(Ack{std::move(target), std::move(waiter), bytes});
    }
    cv_.notify_one();
}

void JournalSyncer::markDirty(const std::shared_ptr<Syncable> &target)
{
    {
        std::lock_guard g(mu_);
        if (!thread_.joinable() && !stop_) thread_ = std::thread([this] { run(); });
        dirty_.push_back(target);
    }
    cv_.notify_one();
}

void JournalSyncer::run()
{
    std::unique_lock lock(mu_);
    while (!stop_) {
        // Writers waiting for their sync go at once; batch journals wait for
        // the interval so one fdatasync covers many writes.
        if (acks_.empty()) {
            if (dirty_.empty())
                cv_.wait(lock, [this] { return stop_ || !acks_.empty() || !dirty_.empty(); });
            else
                cv_.wait_for(lock, kBatchSyncInterval, [this] { return stop_ || !acks_.empty(); });
        }
        std::vector<Ack> acks = std::move(acks_);
        std::vector<std::weak_ptr<Syncable>> dirty = std::move(dirty_);
        acks_.clear();
        dirty_.clear();
        busy_ = true;
        lock.unlock();
        process(std::move(acks), std::move(dirty));
        lock.lock();
        busy_ = false;
        idle_.notify_all();
    }
}

void JournalSyncer::process(std::vector<Ack> acks, std::vector<std::weak_ptr<Syncable>> dirty)
{
    std::map<Syncable *, int> result;
    for (const Ack &a : acks) {
        auto [it, fresh] = result.try_emplace(a.target.get(), 0);
        if (fresh) it->second = a.target->sync();
    }
    for (const auto &w : dirty) {
        if (auto j = w.lock(); j && !result.count(j.get())) result[j.get()] = j->sync();
    }
    for (Ack &a : acks) {
        const int rc = result[a.target.get()];
        if (rc < 0)
            a.waiter->fail(EIO);
        else
            a.waiter->done(a.bytes);
    }
}

void JournalSyncer::drain()
{
    std::vector<Ack> acks;
    std::vector<std::weak_ptr<Syncable>> dirty;
    {
        // A batch the thread took is answered by the thread: wait for it,
        // or its replies could come after the caller ends the session.
        std::unique_lock lock(mu_);
        idle_.wait(lock, [this] { return !busy_; });
        acks = std::move(acks_);
        dirty = std::move(dirty_);
        acks_.clear();
        dirty_.clear();
    }
    process(std::move(acks), std::move(dirty));
}

}  // namespace chanfs
