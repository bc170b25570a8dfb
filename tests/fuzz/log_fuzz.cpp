// libFuzzer target for the state directory's log readers: a durable
// channel's segment files (scanRecords, scanRecordsResync, Journal::open's
// recovery with its consumed file and gap counting) and the tree log
// (replayTreeLog). Whatever the bytes, a reader must keep only whole,
// checksummed records, account for every byte as a record or damage, and
// give the same answer, with no damage, when it reads its own repaired
// files again.
//
// Input: byte 0 picks the reader (and whether the right file header is put
// in front), the rest is the file. For recovery, byte 0's bit 6 splits the
// rest in three: two segment files and a consumed file.
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

void checkResync(std::string_view file, std::string_view magic)
{
    const ResyncScan r = scanRecordsResync(file, magic, "MEG");
    // Records and damage cover the file from the header on, in order, without overlap.
    size_t pos = file.size() < kFileMagicBytes ? 0 : kFileMagicBytes;
    size_t ri = 0, di = 0;
    if (!r.damage.empty() && r.damage[0].header && r.damage[0].offset == 0 &&
        file.size() >= kFileMagicBytes)
        ++di;
    while (ri < r.records.size() || di < r.damage.size()) {
        if (ri < r.records.size() && r.records[ri].offset == pos) {
            pos += kRecordHeaderBytes + 1 + r.records[ri].payload.size();
            ++ri;
        } else {
            FUZZ_CHECK(di < r.damage.size() && r.damage[di].offset == pos && r.damage[di].bytes > 0,
                       "every byte is a record or damage, in order");
            pos += r.damage[di].bytes;
            ++di;
        }
    }
    FUZZ_CHECK(pos == file.size() || file.size() < kFileMagicBytes, "the scan reaches the end");
    // The good records alone, under a good header, read back clean and the same.
    std::string clean(magic.substr(0, kFileMagicBytes));
    for (const RecordView &rec : r.records)
        clean.append(file.substr(rec.offset, kRecordHeaderBytes + 1 + rec.payload.size()));
    const ResyncScan again = scanRecordsResync(clean, magic, "MEG");
    FUZZ_CHECK(again.damage.empty(), "the repaired file is clean");
    FUZZ_CHECK(again.records.size() == r.records.size(), "the repaired file has the same records");
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

// Recovery of a durable queue or topic from segment files (and a consumed
// file) with these bytes.
void checkJournal(std::string_view file, bool topic, bool split)
{
    // One scratch directory per process, removed when libFuzzer exits.
    static const struct Scratch {
        std::string path = "/tmp/chanfs-log-fuzz." + std::to_string(::getpid());
        ~Scratch() { std::filesystem::remove_all(path); }
    } scratch;
    const std::string &dir = scratch.path;
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto put = [&](const std::string &name, std::string_view bytes) {
        std::ofstream(dir + "/" + name, std::ios::binary)
            .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    };
    if (split && file.size() >= 3) {
        // The first two bytes say where the pieces end; the second segment's
        // name is a seq taken from the third byte.
        const size_t a = static_cast<unsigned char>(file[0]) % file.size();
        const size_t b = a + static_cast<unsigned char>(file[1]) % (file.size() - a);
        const uint64_t secondFirst = 2 + static_cast<unsigned char>(file[2]);
        char name[32];
        std::snprintf(name, sizeof name, "%020llu.seg",
                      static_cast<unsigned long long>(secondFirst));
        put("00000000000000000001.seg", file.substr(3, a > 3 ? a - 3 : 0));
        put(name, file.substr(std::max<size_t>(a, 3), b > a ? b - a : 0));
        put("consumed", file.substr(std::max<size_t>(b, 3)));
    } else {
        put("00000000000000000001.seg", file);
    }
    Settings s;
    s.kind = topic ? Kind::Topic : Kind::Queue;
    s.durable = true;
    s.fsync = FsyncPolicy::Never;
    std::shared_ptr<Journal> j;
    RecoveredLog rec;
    std::string why;
    FUZZ_CHECK(Journal::open(dir, s, "fuzz", &j, &rec, &why) == 0 && j, "open gives a journal");
    const bool failed = j->failure() < 0;
    uint64_t last = 0;
    for (const Entry &e : rec.entries) {
        FUZZ_CHECK(e.seq > last, "entries come back in increasing order");
        FUZZ_CHECK(e.seq < rec.nextSeq, "numbering continues after every entry");
        if (topic && last) FUZZ_CHECK(e.seq == last + 1, "a topic's entries are contiguous");
        last = e.seq;
    }
    j.reset();
    // The damage was kept aside and the files rewritten: reading again finds
    // the same, with nothing damaged (unless the journal could not be repaired).
    std::shared_ptr<Journal> j2;
    RecoveredLog rec2;
    FUZZ_CHECK(Journal::open(dir, s, "fuzz", &j2, &rec2, &why) == 0 && j2, "reopen: " + why);
    if (failed) return;
    FUZZ_CHECK(rec2.cutBytes == 0, "a second recovery finds no damage");
    FUZZ_CHECK(rec2.keptAside == 0, "a second recovery keeps nothing aside");
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
    switch ((mode >> 1) % 4) {
    case 0:
        if (withHeader) file.insert(0, kSegmentMagic, kFileMagicBytes);
        checkScan(file, kSegmentMagic);
        break;
    case 3:
        if (withHeader) file.insert(0, kSegmentMagic, kFileMagicBytes);
        checkResync(file, kSegmentMagic);
        break;
    case 1:
        if (withHeader) file.insert(0, chanfs::fs::kTreeLogMagic, kFileMagicBytes);
        checkTree(file);
        break;
    default:
        if (withHeader) file.insert(0, kSegmentMagic, kFileMagicBytes);
        checkJournal(file, mode & 0x80, mode & 0x40);
        break;
    }
    return 0;
}
