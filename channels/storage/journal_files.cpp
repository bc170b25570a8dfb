#include "channels/storage/journal_files.h"

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
#include "channels/base/mutex.h"
#include "channels/storage/journal_format.h"

namespace chanfs {
namespace journal_files {

namespace {
// A leaf lock, taken after a journal's (hooked() runs inside its writes).
Mutex gHookMu;
JournalFaultHook gHook GUARDED_BY(gHookMu);
}  // namespace

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

int hooked(JournalOp op, const std::string &path, size_t bytes)
{
    MutexLock g(gHookMu);
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

}  // namespace journal_files

void setJournalFaultHook(JournalFaultHook hook)
{
    MutexLock g(journal_files::gHookMu);
    journal_files::gHook = std::move(hook);
}

}  // namespace chanfs
