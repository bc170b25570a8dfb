#include "channels/storage/tree_outbox.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "channels/storage/journal_format.h"

namespace chanfs {

namespace {

constexpr char kMagic[4] = {'T', 'O', 'B', '1'};
constexpr size_t kHeader = 16;
constexpr uint8_t kPut = 1;
constexpr uint8_t kDone = 2;
// A put is one tree record: far below this; a bigger length is damage.
constexpr uint32_t kMaxBody = 16u << 20;

void putU32(std::string &out, uint32_t v)
{
    for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}

uint32_t getU32(const char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

std::string record(uint8_t type, const std::string &body)
{
    std::string r(kMagic, 4);
    r += static_cast<char>(type);
    r.append(3, '\0');
    putU32(r, static_cast<uint32_t>(body.size()));
    putU32(r, crc32c(body.data(), body.size()));
    return r + body;
}

int readFile(int fd, std::string *out)
{
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        if (n == 0) return 0;
        out->append(buf, static_cast<size_t>(n));
    }
}

}  // namespace

std::string TreeOutboxLog::encodePut(const TreeOutboxEntry &e)
{
    std::string body;
    putU32(body, static_cast<uint32_t>(e.key.size()));
    body += e.key;
    body += e.value;
    return record(kPut, body);
}

std::string TreeOutboxLog::encodeDone()
{
    return record(kDone, "");
}

std::vector<TreeOutboxEntry> TreeOutboxLog::parse(std::string_view b, size_t *damaged,
                                                  const std::string &label)
{
    std::vector<TreeOutboxEntry> puts;
    size_t done = 0;
    *damaged = 0;
    size_t at = 0;
    while (at < b.size()) {
        const size_t left = b.size() - at;
        const char *h = b.data() + at;
        const bool magic = left >= 4 && std::memcmp(h, kMagic, 4) == 0;
        if (magic && left < kHeader) {
            spdlog::warn("{}: a record cut short at offset {} (torn tail) skipped", label, at);
            ++*damaged;
            break;
        }
        const uint32_t len = magic ? getU32(h + 8) : 0;
        const uint8_t type = magic ? static_cast<uint8_t>(h[4]) : 0;
        const bool sane = magic && (type == kPut || type == kDone) && len <= kMaxBody;
        if (sane && left - kHeader < len) {
            spdlog::warn("{}: a record cut short at offset {} (torn tail) skipped", label, at);
            ++*damaged;
            break;
        }
        const char *body = h + kHeader;
        bool ok = sane && crc32c(body, len) == getU32(h + 12);
        TreeOutboxEntry e;
        if (ok && type == kPut) {
            const uint32_t klen = len >= 4 ? getU32(body) : UINT32_MAX;
            ok = klen != UINT32_MAX && klen <= len - 4;
            if (ok) {
                e.key.assign(body + 4, klen);
                e.value.assign(body + 4 + klen, len - 4 - klen);
            }
        }
        if (!ok) {
            // Skip to the next record's magic: what lies between is kept in
            // the damaged copy, never read as a change.
            spdlog::warn("{}: a damaged record at offset {} skipped", label, at);
            ++*damaged;
            const std::string_view m(kMagic, 4);
            const size_t next = b.find(m, at + 1);
            if (next == std::string_view::npos) break;
            at = next;
            continue;
        }
        if (type == kPut)
            puts.push_back(std::move(e));
        else
            ++done;
        at += kHeader + len;
    }
    // Done records match the oldest puts: stored before the restart.
    if (done >= puts.size()) return {};
    puts.erase(puts.begin(), puts.begin() + static_cast<ptrdiff_t>(done));
    return puts;
}

TreeOutboxLog::TreeOutboxLog(Token, UniqueFd fd, std::string path)
    : fd_(std::move(fd)), path_(std::move(path))
{
}

int TreeOutboxLog::open(const std::string &path, std::shared_ptr<TreeOutboxLog> *out,
                        std::vector<TreeOutboxEntry> *waiting, std::string *why)
{
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!fd) {
        const int e = errno;
        *why = path + ": " + std::strerror(e);
        return -e;
    }
    std::string bytes;
    if (int rc = readFile(fd.get(), &bytes); rc < 0) {
        *why = path + ": " + std::strerror(-rc);
        return rc;
    }
    size_t damaged = 0;
    *waiting = parse(bytes, &damaged, path);
    auto log = std::make_shared<TreeOutboxLog>(Token{}, std::move(fd), path);
    if (damaged) {
        // Kept aside as it was; a fresh log holds what could be read.
        std::string aside;
        for (int n = 1;; ++n) {
            aside = path + ".damaged-" + std::to_string(n);
            struct stat st {};
            if (::stat(aside.c_str(), &st) < 0 && errno == ENOENT) break;
        }
        if (::rename(path.c_str(), aside.c_str()) < 0) {
            const int e = errno;
            *why = "cannot set " + path + " aside: " + std::strerror(e);
            return -e;
        }
        spdlog::warn("{}: {} damaged record(s) skipped; the file is kept as {}; {} change(s) "
                     "read back",
                     path, damaged, aside, waiting->size());
        UniqueFd fresh(::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
        if (!fresh) {
            const int e = errno;
            *why = path + ": " + std::strerror(e);
            return -e;
        }
        MutexLock g(log->mu_);
        log->fd_ = std::move(fresh);
        std::string all;
        for (const TreeOutboxEntry &e : *waiting) all += encodePut(e);
        if (int rc = log->writeAll(all); rc < 0) {
            *why = path + ": " + std::strerror(-rc);
            return rc;
        }
        if (::fdatasync(log->fd_.get()) < 0) {
            const int e = errno;
            *why = path + ": " + std::strerror(e);
            return -e;
        }
        log->dirty_ = false;
    } else if (!waiting->empty()) {
        spdlog::info("{}: {} change(s) to the shared tree wait from the last run", path,
                     waiting->size());
    }
    *out = std::move(log);
    return 0;
}

int TreeOutboxLog::writeAll(const std::string &bytes)
{
    size_t at = 0;
    while (at < bytes.size()) {
        const ssize_t n = ::write(fd_.get(), bytes.data() + at, bytes.size() - at);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        at += static_cast<size_t>(n);
    }
    dirty_ = true;
    return 0;
}

int TreeOutboxLog::append(const TreeOutboxEntry &e)
{
    MutexLock g(mu_);
    return writeAll(encodePut(e));
}

int TreeOutboxLog::markDone()
{
    MutexLock g(mu_);
    return writeAll(encodeDone());
}

int TreeOutboxLog::clear()
{
    MutexLock g(mu_);
    if (::ftruncate(fd_.get(), 0) < 0) return -errno;
    dirty_ = true;
    return 0;
}

int TreeOutboxLog::sync()
{
    int fd = -1;
    {
        MutexLock g(mu_);
        if (!dirty_) return 0;
        dirty_ = false;
        fd = fd_.get();  // constant once open() returned
    }
    // Without the mutex: append() (a FUSE thread) never waits for a sync.
    return ::fdatasync(fd) < 0 ? -errno : 0;
}

}  // namespace chanfs
