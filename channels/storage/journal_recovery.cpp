// Reading a journal back at mount (Journal::open): segments scanned,
// damage kept aside, gaps logged.
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

namespace {

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

}  // namespace

int Journal::open(const std::string &dir, const Settings &s, const std::string &label,
                  std::shared_ptr<Journal> *out, RecoveredLog *rec, std::string *why)
{
    auto j = std::make_shared<Journal>(Token{}, dir, s, label);
    *out = j;
    // Every failure below leaves the journal serving what it could read and
    // refusing writes; the mount goes on.
    auto lasting = [&](int cause, const std::string &what) {
        const std::string full = what + " (" + std::strerror(-cause) + ")";
        MutexLock g(j->mu_);
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
        MutexLock g(j->mu_);  // no other thread has the journal yet; for the analysis
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
        MutexLock g(j->mu_);
        j->segments_[sc.first].fileBytes = clean.size();
    }

    if (s.kind != Kind::Topic) {
        MutexLock g(j->mu_);
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
    MutexLock g(j->mu_);
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

}  // namespace chanfs
