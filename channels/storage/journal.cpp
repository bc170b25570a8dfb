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
#include <optional>
#include <set>

#include "channels/base/file_io.h"
#include "channels/base/latency_histogram.h"
#include "channels/storage/journal_format.h"

#include "channels/storage/journal_files.h"

namespace chanfs {

using namespace journal_files;

Journal::Journal(Token, std::string dir, const Settings &s, std::string label)
    : dir_(std::move(dir)), label_(std::move(label)), settings_(s)
{
}

Journal::~Journal()
{
    MutexLock g(mu_);
    if (!destroyed_ && !failure_ && buf_.empty()) saveConsumed();
}

// Opens (and, if new, starts) the segment beginning at
// firstSeq; on failure a new file is removed and the old active stays.
int Journal::openActive(uint64_t firstSeq)
{
    auto [it, inserted] = segments_.try_emplace(firstSeq);
    const bool fresh = inserted;  // a lambda cannot capture a structured binding in clang 14
    Segment &seg = it->second;
    if (fresh || seg.path.empty()) seg.path = dir_ + "/" + segmentName(firstSeq);
    const std::string path = seg.path;
    auto undo = [&](int err) REQUIRES(mu_) {
        if (fresh) {
            ::unlink(path.c_str());
            segments_.erase(firstSeq);
        }
        return err;
    };
    if (int h = hooked(JournalOp::Create, path, 0); h < 0) return undo(h);
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!fd) return undo(-errno);
    if (seg.fileBytes == 0) {
        if (::ftruncate(fd.get(), 0) < 0) return undo(-errno);
        if (int rc = writeChecked(fd.get(), path, std::string_view(kSegmentMagic, kFileMagicBytes));
            rc < 0)
            return undo(rc);
        seg.fileBytes = kFileMagicBytes;
        if (settings_.fsync != FsyncPolicy::Never) syncDirectory(dir_);
    }
    active_ = std::move(fd);
    activeFirst_ = firstSeq;
    return 0;
}

int Journal::openConsumedFile()
{
    const std::string path = dir_ + "/consumed";
    if (int h = hooked(JournalOp::Create, path, 0); h < 0) return h;
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) return -errno;
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) return -errno;
    const size_t size = kFileMagicBytes + 2 * kConsumedSlotBytes;
    char magic[kFileMagicBytes] = {};
    const bool magicOk = static_cast<size_t>(st.st_size) == size &&
                         ::pread(fd.get(), magic, sizeof magic, 0) == ssize_t(sizeof magic) &&
                         std::memcmp(magic, kConsumedMagic, sizeof magic) == 0;
    if (static_cast<size_t>(st.st_size) == size && !magicOk) {
        // A damaged header would make every later recovery ignore the
        // slots written below it (consumed messages would come back each
        // time): the file is kept aside and started afresh.
        const std::string aside = asideName(path);
        if (::rename(path.c_str(), aside.c_str()) == 0) {
            spdlog::error("durable channel {}: {} has a damaged header; kept as {}", label_, path,
                          aside);
            fd.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
            if (!fd) return -errno;
        }
    }
    if (!magicOk) {
        // Both slots are written now, so later overwrites never need a new block.
        const ConsumedState zero;
        const std::string init = std::string(kConsumedMagic, kFileMagicBytes) +
                                 consumedRecord(zero) + consumedRecord(zero);
        if (::ftruncate(fd.get(), 0) < 0) return -errno;
        if (::pwrite(fd.get(), init.data(), init.size(), 0) != static_cast<ssize_t>(init.size()))
            return errno ? -errno : -ENOSPC;
        if (settings_.fsync != FsyncPolicy::Never) {
            ::fdatasync(fd.get());
            syncDirectory(dir_);
        }
    }
    consumedFd_ = std::move(fd);
    return 0;
}

uint64_t Journal::consumedBelow() const
{
    return live_.empty() ? nextSeq_ : live_.front().first;
}

// Overwrites the older slot of the consumed file: one
// sector-sized pwrite into blocks the file already has, so a full disk
// cannot refuse it.
void Journal::saveConsumed()
{
    if (!consumedFd_ || !tracksConsumption()) return;
    ConsumedState c;
    c.generation = ++consumedGeneration_;
    c.below = consumedBelow();
    c.nextSeq = nextSeq_;
    const std::string slot = consumedRecord(c);
    const off_t at = static_cast<off_t>(kFileMagicBytes + (c.generation % 2) * kConsumedSlotBytes);
    if (::pwrite(consumedFd_.get(), slot.data(), slot.size(), at) !=
        static_cast<ssize_t>(slot.size())) {
        spdlog::warn("durable channel {}: cannot update {}/consumed: {}", label_, dir_,
                     std::strerror(errno));
        return;
    }
    savedConsumedBelow_ = c.below;
    consumedDirty_ = true;
}

void Journal::appended(const Entry &e)
{
    MutexLock g(mu_);
    if (destroyed_) return;
    std::string payload;
    PayloadWriter w(payload);
    w.u64(e.seq);
    if (!e.isMark()) payload.append(e.data(), e.length);
    const size_t at = buf_.size();
    appendRecord(buf_, e.isMark() ? 'E' : 'M', payload);
    pending_.push_back(PendingEntry{e.seq, e.isMark() ? 0 : e.length, e.isMark(), at});
    if (tracksConsumption()) live_.emplace_back(e.seq, false);
    nextSeq_ = std::max(nextSeq_, e.seq + 1);
}

void Journal::cancelAppends(uint64_t fromSeq)
{
    MutexLock g(mu_);
    auto it = std::find_if(pending_.begin(), pending_.end(),
                           [&](const PendingEntry &p) { return p.seq >= fromSeq; });
    if (it == pending_.end()) return;
    buf_.resize(it->bufOffset);
    pending_.erase(it, pending_.end());
    while (!live_.empty() && live_.back().first >= fromSeq) live_.pop_back();
    nextSeq_ = std::min(nextSeq_, fromSeq);
}

void Journal::gone(std::span<const uint64_t> seqs)
{
    MutexLock g(mu_);
    if (destroyed_ || settings_.kind == Kind::Topic || seqs.empty()) return;
    std::string payload;
    PayloadWriter w(payload);
    for (const uint64_t seq : seqs) {
        if (seq == 0) continue;  // bytes a bridge put back: not in the log
        w.u64(seq);
        goneSeqs_.push_back(seq);
        auto it = std::lower_bound(live_.begin(), live_.end(), std::make_pair(seq, false));
        if (it != live_.end() && it->first == seq) it->second = true;
    }
    while (!live_.empty() && live_.front().second) live_.pop_front();
    if (!payload.empty()) appendRecord(goneBuf_, 'G', payload);
}

int Journal::fail(int err, const std::string &what)
{
    if (!failure_) {
        spdlog::error(
            "durable channel {}: {}: {}; its writes now fail with {} until the daemon "
            "is restarted on a repaired state directory",
            label_, what, std::strerror(-err), std::strerror(-err));
        failure_ = err;
        failureWhat_ = what;
    }
    return failure_;
}

int Journal::refuse(int err, const std::string &what)
{
    if (!refused_)
        spdlog::error(
            "durable channel {}: {}: {}; the write is refused and nothing of it "
            "kept, later writes are tried again",
            label_, what, std::strerror(-err));
    refused_ = err;
    refusedWhat_ = what;
    return err;
}

int Journal::flush()
{
    MutexLock g(mu_);
    if (failure_) return failure_;
    if (destroyed_ || (buf_.empty() && goneBuf_.empty())) return 0;
    Segment *seg = &segments_[activeFirst_];
    bool rotated = false;
    if (!pending_.empty() && seg->fileBytes >= kSegmentBytes) {
        // Rotate: the finished segment is synced before it is closed, so
        // the policy holds for it without the syncer keeping its fd.
        if (settings_.fsync != FsyncPolicy::Never) {
            if (int rc = syncChecked(active_.get(), seg->path); rc < 0)
                return fail(rc, "fdatasync " + seg->path);
        }
        if (int rc = openActive(pending_.front().seq); rc < 0) {
            if (isFull(rc)) return refuse(rc, "cannot start a new segment in " + dir_);
            return fail(rc, "cannot start a new segment in " + dir_);
        }
        seg = &segments_[activeFirst_];
        rotated = true;
    }
    int rc = writeChecked(active_.get(), seg->path, goneBuf_);
    if (rc == 0) rc = writeChecked(active_.get(), seg->path, buf_);
    if (rc < 0) {
        // Cut what got in back off, so the file ends at its last whole
        // record and the next flush appends after it.
        if (int t = truncateChecked(active_.get(), seg->path, seg->fileBytes); t < 0)
            return fail(t, "cannot cut a failed write off " + seg->path);
        if (isFull(rc)) return refuse(rc, "write " + seg->path);
        return fail(rc, "write " + seg->path);
    }
    if (refused_) {
        spdlog::warn("durable channel {}: writes are saved again", label_);
        refused_ = 0;
        refusedWhat_.clear();
    }
    seg->fileBytes += goneBuf_.size() + buf_.size();
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
    if (rotated || (!goneSeqs_.empty() && consumedBelow() != savedConsumedBelow_)) saveConsumed();
    buf_.clear();
    goneBuf_.clear();
    pending_.clear();
    goneSeqs_.clear();
    trimSegments();
    if (!dirty_ && settings_.fsync == FsyncPolicy::Batch)
        JournalSyncer::instance().markDirty(shared_from_this());
    dirty_ = true;
    return 0;
}

// Deletes the segments nothing needs any more (never the active one).
void Journal::trimSegments()
{
    if (failure_) return;
    auto drop = [this](std::map<uint64_t, Segment>::iterator it) REQUIRES(mu_) {
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
    MutexLock g(mu_);
    return failure_;
}

JournalHealth Journal::health() const
{
    MutexLock g(mu_);
    if (failure_) return JournalHealth{failure_, true, failureWhat_};
    if (refused_) return JournalHealth{refused_, false, refusedWhat_};
    return {};
}

std::string Journal::healthText() const
{
    const JournalHealth h = health();
    if (!h.error) return "ok";
    return std::string(h.lasting ? "failed: " : "refusing writes: ") + h.reason + ": " +
           std::strerror(-h.error);
}

int Journal::sync()
{
    // fdatasync runs on a duplicate of the descriptor with the mutex
    // released: writes (under the channel's mutex) and consuming reads need
    // that mutex, and must not wait for the disk every batch interval.
    // syncMu_ stays held: a second sync() waits for this one's result.
    MutexLock serial(syncMu_);
    UniqueFd fd, consumedFd;
    {
        MutexLock g(mu_);
        if (failure_) return failure_;
        if (destroyed_ || !dirty_ || !active_) return 0;
        fd.reset(::fcntl(active_.get(), F_DUPFD_CLOEXEC, 0));
        if (!fd) return fail(-errno, "dup for fdatasync of " + dir_);
        if (consumedDirty_ && consumedFd_)
            consumedFd.reset(::fcntl(consumedFd_.get(), F_DUPFD_CLOEXEC, 0));
        consumedDirty_ = false;
        dirty_ = false;
    }
    // Once an fdatasync failed, the kernel may have dropped the pages it
    // could not write and the next one would succeed without them: the
    // journal fails for good (fail() keeps the first error).
    if (int rc = syncChecked(fd.get(), dir_); rc < 0) {
        MutexLock g(mu_);
        return fail(rc, "fdatasync of a segment in " + dir_);
    }
    if (consumedFd) ::fdatasync(consumedFd.get());
    return 0;
}

void Journal::configure(const Settings &s)
{
    MutexLock g(mu_);
    settings_ = s;
    if (!destroyed_ && active_) trimSegments();
}

void Journal::destroy()
{
    MutexLock g(mu_);
    if (destroyed_) return;
    destroyed_ = true;
    active_.reset();
    consumedFd_.reset();
    for (auto &[first, seg] : segments_) ::unlink(seg.path.c_str());
    ::unlink((dir_ + "/consumed").c_str());
    segments_.clear();
    buf_.clear();
    goneBuf_.clear();
    pending_.clear();
    goneSeqs_.clear();
    live_.clear();
    if (::rmdir(dir_.c_str()) < 0 && errno != ENOENT)
        spdlog::warn("durable channel {}: cannot remove {}: {}", label_, dir_,
                     std::strerror(errno));
}

size_t Journal::segmentCount() const
{
    MutexLock g(mu_);
    return segments_.size();
}

}  // namespace chanfs
