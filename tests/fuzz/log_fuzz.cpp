// libFuzzer target for the state directory's log readers: a durable
// channel's segment files (scanRecords, Journal::open's recovery) and the
// tree log (replayTreeLog). Whatever the bytes, a reader must keep only
// whole, checksummed records, cut the file where damage starts, and give
// the same answer when it reads its own cut file again.
//
// Input: byte 0 picks the reader (and whether the right file header is put
// in front), the rest is the file.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "channels/base/settings.h"
#include "channels/storage/journal.h"
#include "channels/storage/journal_format.h"
#include "fs/tree/tree_log.h"
#include "tests/fuzz/fuzz_check.h"

using namespace chanfs;

namespace {

void checkScan(std::string_view file, std::string_view magic)
{
    const ScanResult r = scanRecords(file, magic);
    FUZZ_CHECK(r.validEnd <= file.size(), "validEnd past the end");
    if (file.size() >= kFileMagicBytes)
        FUZZ_CHECK(r.problem.empty() == (r.validEnd == file.size()),
                   "a problem exactly when bytes are cut off");
    size_t expect = kFileMagicBytes;
    for (const RecordView &rec : r.records) {
        FUZZ_CHECK(rec.offset == expect, "records are contiguous from the header");
        expect += kRecordHeaderBytes + 1 + rec.payload.size();
    }
    if (!r.records.empty()) FUZZ_CHECK(expect == r.validEnd, "validEnd ends the last record");
    // The cut file reads back the same, cleanly, and takes a new record.
    std::string cut(file.substr(0, r.validEnd));
    const ScanResult again = scanRecords(cut, magic);
    FUZZ_CHECK(again.problem.empty(), "a cut file is clean: " + again.problem);
    FUZZ_CHECK(again.records.size() == r.records.size(), "the cut file has the same records");
    if (r.validEnd >= kFileMagicBytes) {
        appendRecord(cut, 'M', "appended");
        const ScanResult more = scanRecords(cut, magic);
        FUZZ_CHECK(more.problem.empty() && more.records.size() == r.records.size() + 1 &&
                       more.records.back().payload == "appended",
                   "a record appended after the cut reads back");
    }
}

void checkTree(std::string_view file)
{
    const chanfs::fs::TreeReplay r = chanfs::fs::replayTreeLog(file);
    FUZZ_CHECK(r.validEnd <= file.size(), "validEnd past the end");
    for (const auto &[ino, node] : r.nodes) {
        FUZZ_CHECK(ino == node.ino && ino != 0, "nodes are keyed by their inode number");
        FUZZ_CHECK(ino == 1 || (node.parent != 0 && !node.name.empty()),
                   "every node but the root has a parent and a name");
        FUZZ_CHECK(ino == UINT64_MAX || r.nextIno > ino,
                   "the high-water mark is above every live inode number");
    }
    // Writing the replayed nodes out as a rewrite does (the high-water mark
    // first) and replaying them gives them and the mark back: a rewrite
    // never lowers the mark, so no number is handed out twice.
    std::string out(chanfs::fs::kTreeLogMagic, kFileMagicBytes);
    chanfs::fs::appendHighWaterRecord(out, r.nextIno);
    for (const auto &[ino, node] : r.nodes) chanfs::fs::appendNodeRecord(out, node);
    const chanfs::fs::TreeReplay again = chanfs::fs::replayTreeLog(out);
    FUZZ_CHECK(again.problems.empty() && again.nodes == r.nodes, "replay, write, replay is stable");
    FUZZ_CHECK(again.nextIno == r.nextIno, "the high-water mark survives a rewrite");
    // A torn append cut back (the state store's recovery) leaves the log as
    // it was: what replays after the cut is what replayed before the append.
    std::string appended = out;
    chanfs::fs::TreeRecord extra;
    extra.ino = r.nextIno ? r.nextIno : 2;
    extra.parent = 1;
    extra.name = "torn";
    chanfs::fs::appendNodeRecord(appended, extra);
    const size_t tornAt = out.size() + (file.size() % (appended.size() - out.size()));
    const chanfs::fs::TreeReplay torn = chanfs::fs::replayTreeLog(appended.substr(0, tornAt));
    FUZZ_CHECK(torn.nodes == again.nodes, "a torn last record adds nothing");
    std::string cut = appended.substr(0, torn.validEnd);
    chanfs::fs::appendDropRecord(cut, extra.ino);
    FUZZ_CHECK(chanfs::fs::replayTreeLog(cut).problems.empty(),
               "a record appended after the cut reads back");
}

// Recovery of a durable queue from one segment file with these bytes.
void checkJournal(std::string_view file, bool topic)
{
    // One scratch directory per process, removed when libFuzzer exits.
    static const struct Scratch {
        std::string path = "/tmp/chanfs-log-fuzz." + std::to_string(::getpid());
        ~Scratch() { std::filesystem::remove_all(path); }
    } scratch;
    const std::string &dir = scratch.path;
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::string seg = dir + "/00000000000000000001.seg";
    std::ofstream(seg, std::ios::binary)
        .write(file.data(), static_cast<std::streamsize>(file.size()));
    Settings s;
    s.kind = topic ? Kind::Topic : Kind::Queue;
    s.durable = true;
    s.fsync = FsyncPolicy::Never;
    std::shared_ptr<Journal> j;
    RecoveredLog rec;
    std::string why;
    if (Journal::open(dir, s, "fuzz", &j, &rec, &why) < 0) return;  // an I/O error, not a parse
    uint64_t last = 0;
    for (const Entry &e : rec.entries) {
        FUZZ_CHECK(e.seq > last, "entries come back in increasing order");
        FUZZ_CHECK(e.seq < rec.nextSeq, "numbering continues after every entry");
        if (topic && last) FUZZ_CHECK(e.seq == last + 1, "a topic's entries are contiguous");
        last = e.seq;
    }
    j.reset();
    // The damage was cut off: reading again finds the same, with nothing cut.
    std::shared_ptr<Journal> j2;
    RecoveredLog rec2;
    FUZZ_CHECK(Journal::open(dir, s, "fuzz", &j2, &rec2, &why) == 0, "reopen: " + why);
    FUZZ_CHECK(rec2.cutBytes == 0, "a second recovery cuts nothing");
    FUZZ_CHECK(rec2.entries.size() == rec.entries.size(), "a second recovery finds the same");
    for (size_t i = 0; i < rec.entries.size(); ++i) {
        const Entry &a = rec.entries[i], &b = rec2.entries[i];
        FUZZ_CHECK(
            a.seq == b.seq && a.isMark() == b.isMark() && (a.isMark() || *a.payload == *b.payload),
            "a second recovery finds the same entries");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool quiet = (chanfs::fuzz::quietLogs(), true);
    (void)quiet;
    if (size == 0) return 0;
    const uint8_t mode = data[0];
    std::string file(reinterpret_cast<const char *>(data + 1), size - 1);
    const bool withHeader = mode & 1;
    switch ((mode >> 1) % 3) {
    case 0:
        if (withHeader) file.insert(0, kSegmentMagic, kFileMagicBytes);
        checkScan(file, kSegmentMagic);
        break;
    case 1:
        if (withHeader) file.insert(0, chanfs::fs::kTreeLogMagic, kFileMagicBytes);
        checkTree(file);
        break;
    default:
        if (withHeader) file.insert(0, kSegmentMagic, kFileMagicBytes);
        checkJournal(file, mode & 0x80);
        break;
    }
    return 0;
}
