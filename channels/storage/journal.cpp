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

std::mutex gHookMu;
JournalFaultHook gHook;

int hooked(JournalOp op, const std::string &path, size_t bytes)
{
    std::lock_guard g(gHookMu);
    return gHook ? gHook(op, path, bytes) : 0;
}

bool isFull(int err)
{
    return err == -ENOSPC || err == -EDQUOT;
}

int writeChecked(int fd, const std::string &path, std::string_view data)
{
    const int h = hooked(JournalOp::Write, path, data.size());
    if (h < 0) return h;
    if (h > 0) {
        const int rc =
            writeFully(fd, data.substr(0, std::min<size_t>(static_cast<size_t>(h), data.size())));
        return rc < 0 ? rc : -ENOSPC;
    }
    return writeFully(fd, data);
}

int syncChecked(int fd, const std::string &path)
{
    if (int h = hooked(JournalOp::Sync, path, 0); h < 0) return h;
    return timedFdatasync(fd) < 0 ? -errno : 0;
}

int truncateChecked(int fd, const std::string &path, uint64_t size)
{
    if (int h = hooked(JournalOp::Truncate, path, size); h < 0) return h;
    return ::ftruncate(fd, static_cast<off_t>(size)) < 0 ? -errno : 0;
}

constexpr char kConsumedMagic[] = "CHANFSC1";
constexpr size_t kConsumedSlotBytes = 40;

struct ConsumedState {
    uint64_t generation = 0;
    uint64_t below = 0;    // every seq below is consumed
    uint64_t nextSeq = 0;  // the numbering had reached this
};

std::string consumedRecord(const ConsumedState &c)
{
    std::string payload;
    PayloadWriter w(payload);
    w.u64(c.generation);
    w.u64(c.below);
    w.u64(c.nextSeq);
    std::string out;
    appendRecord(out, 'C', payload);
    out.resize(kConsumedSlotBytes, '\0');
    return out;
}

// The newer valid slot of a consumed file; false if neither is valid.
bool parseConsumed(std::string_view file, ConsumedState *out)
{
    if (file.size() < kFileMagicBytes ||
        file.substr(0, kFileMagicBytes) != std::string_view(kConsumedMagic, kFileMagicBytes))
        return false;
    bool found = false;
    for (size_t slot = 0; slot < 2; ++slot) {
        const size_t at = kFileMagicBytes + slot * kConsumedSlotBytes;
        if (file.size() < at + kRecordHeaderBytes) continue;
        std::string one(kConsumedMagic, kFileMagicBytes);
        one.append(file.substr(at, kConsumedSlotBytes));
        const ScanResult scan = scanRecords(one, kConsumedMagic);
        if (scan.records.empty() || scan.records[0].type != 'C') continue;
        PayloadReader in(scan.records[0].payload);
        ConsumedState c;
        if (!in.u64(&c.generation) || !in.u64(&c.below) || !in.u64(&c.nextSeq)) continue;
        if (!found || c.generation > out->generation) *out = c;
        found = true;
    }
    return found;
}

// A name for a damaged copy of `path` that is not taken yet.
std::string asideName(const std::string &path)
{
    std::string name = path + ".damaged";
    for (int n = 2; ::access(name.c_str(), F_OK) == 0; ++n)
        name = path + ".damaged." + std::to_string(n);
    return name;
}

// Writes `data` to a new file `path` (fsynced); 0 or -errno, nothing left behind on failure.
int writeNewFile(const std::string &path, std::string_view data)
{
    if (int h = hooked(JournalOp::Create, path, data.size()); h < 0) return h;
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) return -errno;
    int rc = writeChecked(fd.get(), path, data);
    if (rc == 0) rc = syncChecked(fd.get(), path);
    if (rc < 0) ::unlink(path.c_str());
    return rc;
}

std::string seqRange(uint64_t from, uint64_t to)
{
    return from == to ? "seq " + std::to_string(from)
                      : "seq " + std::to_string(from) + ".." + std::to_string(to);
}

}  // namespace

void setJournalFaultHook(JournalFaultHook hook)
{
    std::lock_guard g(gHookMu);
    gHook = std::move(hook);
}

Journal::Journal(Token, std::string dir, const Settings &s, std::string label)
    : dir_(std::move(dir)), label_(std::move(label)), settings_(s)
{
}

Journal::~Journal()
{
    std::lock_guard g(mu_);
    if (!destroyed_ && !failure_ && buf_.empty()) saveConsumed();
}

// What one segment file held at recovery.
struct ScannedSegment {
    uint64_t first = 0;
    std::string path;
    bool readable = false;
    std::string data;
    ResyncScan scan;
    std::vector<std::pair<size_t, uint64_t>> seqs;  // offset, seq of each 'M'/'E' record
    uint64_t lastSeq = 0;                           // of its 'M'/'E' records, 0 if none
};

int Journal::open(const std::string &dir, const Settings &s, const std::string &label,
                  std::shared_ptr<Journal> *out, RecoveredLog *rec, std::string *why)
{
    auto j = std::make_shared<Journal>(Token{}, dir, s, label);
    *out = j;
    // Every failure below leaves the journal serving what it could read and
    // refusing writes; the mount goes on.
    auto lasting = [&](int cause, const std::string &what) {
        const std::string full = what + " (" + std::strerror(-cause) + ")";
        std::lock_guard g(j->mu_);
        j->fail(-EIO, full);
        if (why->empty()) *why = full;
    };
    if (int rc = makeDirs(dir); rc < 0) {
        lasting(rc, "cannot make " + dir);
        return 0;
    }
    std::vector<ScannedSegment> segs;
    {
        DIR *d = ::opendir(dir.c_str());
        if (!d) {
            const int err = -errno;
            lasting(err, "cannot read " + dir);
            return 0;
        }
        while (dirent *e = ::readdir(d)) {
            uint64_t seq;
            if (!parseSegmentName(e->d_name, &seq)) continue;
            ScannedSegment sc;
            sc.first = seq;
            sc.path = dir + "/" + e->d_name;
            segs.push_back(std::move(sc));
        }
        ::closedir(d);
    }
    std::sort(segs.begin(), segs.end(),
              [](const ScannedSegment &a, const ScannedSegment &b) { return a.first < b.first; });

    ConsumedState consumed;
    bool haveConsumed = false;
    if (s.kind != Kind::Topic) {
        std::string data;
        const std::string path = dir + "/consumed";
        const int rc = readWholeFile(path, &data);
        if (rc == 0) {
            haveConsumed = parseConsumed(data, &consumed);
            if (!haveConsumed)
                spdlog::error(
                    "durable channel {}: {} is damaged; consumption is taken from the "
                    "segments' records alone (messages consumed since the last one may come "
                    "back)",
                    label, path);
        } else if (rc != -ENOENT) {
            spdlog::error("durable channel {}: cannot read {}: {}", label, path,
                          std::strerror(-rc));
        }
    }

    std::map<uint64_t, Entry> entries;  // by seq
    std::map<uint64_t, uint64_t> segmentOf;
    std::set<uint64_t> gone;
    uint64_t nextSeq = 1;
    for (ScannedSegment &sc : segs) {
        struct stat st {};
        if (::stat(sc.path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
            lasting(-EISDIR, sc.path + " is not a file, its messages are not served");
            continue;
        }
        if (int rc = readWholeFile(sc.path, &sc.data); rc < 0) {
            lasting(rc, "cannot read " + sc.path + ", its messages are not served");
            continue;
        }
        sc.readable = true;
        sc.scan = scanRecordsResync(sc.data, kSegmentMagic, "MEG");
        nextSeq = std::max(nextSeq, sc.first);
        Segment seg;
        seg.path = sc.path;
        for (const RecordView &r : sc.scan.records) {
            PayloadReader in(r.payload);
            uint64_t seq = 0;
            if (r.type == 'M' || r.type == 'E') {
                if (!in.u64(&seq) || seq == 0) {
                    spdlog::error("durable channel {}: {}: malformed record at offset {}; skipped",
                                  label, sc.path, r.offset);
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
                segmentOf[seq] = sc.first;
                ++seg.live;
                sc.seqs.emplace_back(r.offset, seq);
                sc.lastSeq = std::max(sc.lastSeq, seq);
                nextSeq = std::max(nextSeq, seq + 1);
            } else if (r.type == 'G') {
                while (in.u64(&seq)) gone.insert(seq);
            }
        }
        seg.fileBytes = sc.data.size();
        j->segments_.emplace(sc.first, std::move(seg));
    }
    if (haveConsumed) nextSeq = std::max(nextSeq, consumed.nextSeq);
    const uint64_t consumedBelow = haveConsumed ? consumed.below : 0;
    // How many of the seqs [from, to] were not consumed: what a gap really lost.
    auto unconsumedIn = [&](uint64_t from, uint64_t to) {
        const uint64_t start = std::max(from, consumedBelow);
        if (start > to) return uint64_t{0};
        uint64_t n = to - start + 1;
        if (s.kind != Kind::Topic)
            n -=
                static_cast<uint64_t>(std::distance(gone.lower_bound(start), gone.upper_bound(to)));
        return n;
    };
    auto reportGap = [&](const std::string &where, uint64_t from, uint64_t to) {
        const uint64_t lost = unconsumedIn(from, to);
        rec->lostEntries += lost;
        spdlog::error(
            "durable channel {}: {}: {} ({} entries) missing, {} of them not consumed: "
            "lost",
            label, where, seqRange(from, to), to - from + 1, lost);
    };

    // Gaps: damaged stretches inside a segment, and numbers that no
    // segment holds (a deleted or unreadable segment, a lost end).
    for (size_t i = 0; i < segs.size(); ++i) {
        ScannedSegment &sc = segs[i];
        const ScannedSegment *next = i + 1 < segs.size() ? &segs[i + 1] : nullptr;
        if (!sc.readable) {
            const uint64_t to = next ? next->first - 1 : nextSeq - 1;
            if (to >= sc.first) reportGap(sc.path + " cannot be read", sc.first, to);
            continue;
        }
        for (const DamagedRange &d : sc.scan.damage) {
            uint64_t before = sc.first ? sc.first - 1 : 0;
            std::optional<uint64_t> after;
            for (const auto &[off, seq] : sc.seqs) {
                if (off < d.offset)
                    before = std::max(before, seq);
                else if (!after)
                    after = seq;
            }
            if (!after && next) after = next->first;
            if (!after && haveConsumed && consumed.nextSeq > before + 1) after = consumed.nextSeq;
            rec->cutBytes += d.bytes;
            const std::string where = sc.path + ": " + d.what + " at offset " +
                                      std::to_string(d.offset) + " (" + std::to_string(d.bytes) +
                                      " bytes)";
            if (after && *after > before + 1) {
                reportGap(where, before + 1, *after - 1);
            } else if (d.header) {
                spdlog::error("durable channel {}: {}; the records after it are kept", label,
                              where);
            } else if (d.tail) {
                spdlog::error(
                    "durable channel {}: {}: the end of the file is lost (an unknown "
                    "number of entries written last, at least one record)",
                    label, where);
            } else {
                spdlog::error("durable channel {}: {}: consumption records only, no entry lost",
                              label, where);
            }
        }
        if (next) {
            const bool tailDamaged = !sc.scan.damage.empty() && sc.scan.damage.back().tail;
            const uint64_t last = sc.lastSeq ? sc.lastSeq : (sc.first ? sc.first - 1 : 0);
            if (!tailDamaged && next->first > last + 1)
                reportGap("no segment holds them (a segment file was deleted?) between " + sc.path +
                              " and " + next->path,
                          last + 1, next->first - 1);
        }
    }
    if (!segs.empty() && haveConsumed && consumed.below < segs.front().first && consumed.below > 0)
        reportGap(dir + ": before the first segment " + segs.front().path, consumed.below,
                  segs.front().first - 1);
    if (haveConsumed && !segs.empty() && segs.back().readable &&
        (segs.back().scan.damage.empty() || !segs.back().scan.damage.back().tail)) {
        const ScannedSegment &b = segs.back();
        const uint64_t last = b.lastSeq ? b.lastSeq : (b.first ? b.first - 1 : 0);
        if (consumed.nextSeq > last + 1)
            reportGap(segs.back().path + ": its end is missing (the file was cut short?)", last + 1,
                      consumed.nextSeq - 1);
    }
    if (haveConsumed && segs.empty() && consumed.nextSeq > consumed.below && consumed.below > 0)
        reportGap(dir + ": every segment file is missing", consumed.below, consumed.nextSeq - 1);

    // Damaged files are kept aside before a clean copy takes their place:
    // the next recovery reads the copy, and nothing is ever cut in place.
    for (ScannedSegment &sc : segs) {
        if (!sc.readable || sc.scan.damage.empty()) continue;
        const std::string aside = asideName(sc.path);
        std::string clean(kSegmentMagic, kFileMagicBytes);
        for (const RecordView &r : sc.scan.records) {
            const size_t len = kRecordHeaderBytes + 1 + r.payload.size();
            clean.append(sc.data, r.offset, len);
        }
        const std::string tmp = sc.path + ".tmp";
        ::unlink(tmp.c_str());
        int rc = writeNewFile(aside, sc.data);
        if (rc == 0) rc = writeNewFile(tmp, clean);
        if (rc == 0 && ::rename(tmp.c_str(), sc.path.c_str()) < 0) rc = -errno;
        if (rc < 0) {
            ::unlink(tmp.c_str());
            lasting(rc, "cannot keep the damaged " + sc.path + " aside and rewrite it");
            continue;
        }
        syncDirectory(dir);
        ++rec->keptAside;
        spdlog::error(
            "durable channel {}: the damaged file is kept as {}; {} holds its {} good "
            "records",
            label, aside, sc.path, sc.scan.records.size());
        j->segments_[sc.first].fileBytes = clean.size();
    }

    if (s.kind != Kind::Topic) {
        for (auto it = entries.begin(); it != entries.end();) {
            if (it->first >= consumedBelow && !gone.count(it->first)) {
                ++it;
                continue;
            }
            auto seg = j->segments_.find(segmentOf[it->first]);
            if (seg != j->segments_.end() && seg->second.live > 0) --seg->second.live;
            it = entries.erase(it);
        }
    } else if (!entries.empty()) {
        // A topic's reader positions need contiguous numbers: after a gap
        // the older entries are renumbered to close it (nothing refers to a
        // topic entry's number on disk), so the gap costs only what it lost.
        uint64_t seq = entries.rbegin()->first;
        std::map<uint64_t, Entry> renumbered;
        for (auto it = entries.rbegin(); it != entries.rend(); ++it, --seq) {
            it->second.seq = seq;
            renumbered.emplace(seq, std::move(it->second));
        }
        entries = std::move(renumbered);
    }
    std::lock_guard g(j->mu_);
    for (auto &[seq, e] : entries) {
        if (j->tracksConsumption()) j->live_.emplace_back(seq, false);
        rec->entries.push_back(std::move(e));
    }
    rec->nextSeq = nextSeq;
    j->nextSeq_ = nextSeq;
    rec->segments = j->segments_.size();
    if (j->failure_) {
        // Nothing is written or deleted in a journal that could not be read whole.
        return 0;
    }
    j->trimSegments();
    const uint64_t activeFirst = j->segments_.empty() ? nextSeq : j->segments_.rbegin()->first;
    if (int rc = j->openActive(activeFirst); rc < 0) {
        *why = "cannot open a segment in " + dir + " (" + std::strerror(-rc) + ")";
        j->fail(-EIO, *why);
        return 0;
    }
    if (j->tracksConsumption()) {
        if (int rc = j->openConsumedFile(); rc < 0) {
            *why = "cannot make " + dir + "/consumed (" + std::strerror(-rc) + ")";
            j->fail(-EIO, *why);
            return 0;
        }
        j->savedConsumedBelow_ = consumedBelow;
        j->consumedGeneration_ = consumed.generation;
        // Rewritten only when it says less than the records do: a mount
        // that changes nothing changes no file.
        if (!haveConsumed || j->consumedBelow() != consumedBelow) j->saveConsumed();
    }
    rec->segments = j->segments_.size();
    return 0;
}

// Needs mu_. Opens (and, if new, starts) the segment beginning at
// firstSeq; on failure a new file is removed and the old active stays.
int Journal::openActive(uint64_t firstSeq)
{
    auto [it, inserted] = segments_.try_emplace(firstSeq);
    const bool fresh = inserted;  // a lambda cannot capture a structured binding in clang 14
    Segment &seg = it->second;
    if (fresh || seg.path.empty()) seg.path = dir_ + "/" + segmentName(firstSeq);
    const std::string path = seg.path;
    auto undo = [&](int err) {
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

// Needs mu_.
int Journal::openConsumedFile()
{
    const std::string path = dir_ + "/consumed";
    if (int h = hooked(JournalOp::Create, path, 0); h < 0) return h;
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) return -errno;
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) return -errno;
    const size_t size = kFileMagicBytes + 2 * kConsumedSlotBytes;
    if (static_cast<size_t>(st.st_size) != size) {
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

// Needs mu_.
uint64_t Journal::consumedBelow() const
{
    return live_.empty() ? nextSeq_ : live_.front().first;
}

// Needs mu_. Overwrites the older slot of the consumed file: one
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
    std::lock_guard g(mu_);
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
    std::lock_guard g(mu_);
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
    std::lock_guard g(mu_);
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
    std::lock_guard g(mu_);
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

// Needs mu_. Deletes the segments nothing needs any more (never the active one).
void Journal::trimSegments()
{
    if (failure_) return;
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

JournalHealth Journal::health() const
{
    std::lock_guard g(mu_);
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
    UniqueFd fd, consumedFd;
    {
        std::lock_guard g(mu_);
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
        std::lock_guard g(mu_);
        return fail(rc, "fdatasync of a segment in " + dir_);
    }
    if (consumedFd) ::fdatasync(consumedFd.get());
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
            a.waiter->fail(-rc);
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
