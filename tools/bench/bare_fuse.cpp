// chanfs-bare-fuse: the FUSE ceiling on this machine, for chanfs-bench.
//
// A minimal low-level libfuse loop that does only what any file-backed
// channel must: each of 64 files ("0".."63") is a byte buffer; a write
// appends, a read takes what is there. A read on an empty file and a write
// to a full one (4 MiB) are parked and answered when the other side comes,
// so ping-pong and streaming work as on chanfs. Same session settings as
// chanfs: max_write 1 MiB, direct_io, nonseekable. One thread, no framing,
// no stats, no locks: whatever chanfs costs beyond this is chanfs's own.
//
//   chanfs-bare-fuse MOUNTPOINT [POLL_US]
//
// POLL_US > 0 polls /dev/fuse as chanfs's -o poll_us does, with the same
// code (fs/fuse/request_poll.h); without it, or 0, the loop is libfuse's
// own blocking read, as it always was.
#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "fs/fuse/request_poll.h"

namespace {

constexpr unsigned kFiles = 64;
constexpr size_t kCapacityBytes = 4u << 20;
constexpr size_t kMaxWriteBytes = 1u << 20;

struct ParkedWrite {
    fuse_req_t req;
    std::vector<char> data;
};

// Writes are kept as the chunks they arrived in (one copy, as any daemon
// must make); a read gathers up to its size from the front chunks.
struct File {
    std::deque<std::vector<char>> chunks;
    size_t frontOffset = 0;  // bytes of chunks.front() already read
    size_t queued = 0;
    std::deque<std::pair<fuse_req_t, size_t>> readers;  // parked reads and their sizes
    std::deque<ParkedWrite> writers;                    // parked writes
};

std::array<File, kFiles> gFiles;

bool fileIndex(fuse_ino_t ino, unsigned *idx)
{
    if (ino < 2 || ino >= 2 + kFiles) return false;
    *idx = static_cast<unsigned>(ino - 2);
    return true;
}

void fillStat(fuse_ino_t ino, struct stat *st)
{
    std::memset(st, 0, sizeof *st);
    st->st_ino = ino;
    if (ino == FUSE_ROOT_ID) {
        st->st_mode = S_IFDIR | 0755;
        st->st_nlink = 2;
    } else {
        st->st_mode = S_IFREG | 0666;
        st->st_nlink = 1;
    }
}

void append(File &f, std::vector<char> data)
{
    f.queued += data.size();
    f.chunks.push_back(std::move(data));
}

// Replies with up to `size` bytes from the front; consumes them only if
// the reply went through.
void answerRead(File &f, fuse_req_t req, size_t size)
{
    std::vector<iovec> iov;
    size_t n = 0, off = f.frontOffset;
    for (auto it = f.chunks.begin(); it != f.chunks.end() && n < size; ++it, off = 0) {
        const size_t take = std::min(size - n, it->size() - off);
        iov.push_back(iovec{it->data() + off, take});
        n += take;
    }
    if (fuse_reply_iov(req, iov.data(), static_cast<int>(iov.size())) != 0) return;
    f.queued -= n;
    while (n > 0) {
        const size_t left = f.chunks.front().size() - f.frontOffset;
        if (n < left) {
            f.frontOffset += n;
            return;
        }
        n -= left;
        f.chunks.pop_front();
        f.frontOffset = 0;
    }
}

// Answers parked readers while there is data, then parked writers while
// there is room: the single thread makes this the whole synchronisation.
void pump(File &f)
{
    for (;;) {
        bool progress = false;
        while (!f.readers.empty() && f.queued > 0) {
            auto [req, size] = f.readers.front();
            f.readers.pop_front();
            if (fuse_req_interrupted(req)) {
                fuse_reply_err(req, EINTR);
                continue;
            }
            answerRead(f, req, size);
            progress = true;
        }
        while (!f.writers.empty() && f.queued < kCapacityBytes) {
            ParkedWrite w = std::move(f.writers.front());
            f.writers.pop_front();
            const size_t n = w.data.size();
            append(f, std::move(w.data));
            fuse_reply_write(w.req, n);
            progress = true;
        }
        if (!progress) return;
    }
}

void onInterrupt(fuse_req_t req, void *data)
{
    File &f = *static_cast<File *>(data);
    for (auto it = f.readers.begin(); it != f.readers.end(); ++it) {
        if (it->first == req) {
            f.readers.erase(it);
            fuse_reply_err(req, EINTR);
            return;
        }
    }
    for (auto it = f.writers.begin(); it != f.writers.end(); ++it) {
        if (it->req == req) {
            f.writers.erase(it);
            fuse_reply_err(req, EINTR);
            return;
        }
    }
}

void opInit(void *, fuse_conn_info *conn)
{
    conn->max_write = kMaxWriteBytes;
}

void opLookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    char *end = nullptr;
    const unsigned long n = std::strtoul(name, &end, 10);
    if (parent != FUSE_ROOT_ID || end == name || *end != '\0' || n >= kFiles) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    fuse_entry_param e{};
    e.ino = 2 + n;
    fillStat(e.ino, &e.attr);
    e.attr_timeout = e.entry_timeout = 3600;
    fuse_reply_entry(req, &e);
}

void opGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info *)
{
    unsigned idx;
    if (ino != FUSE_ROOT_ID && !fileIndex(ino, &idx)) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    struct stat st;
    fillStat(ino, &st);
    fuse_reply_attr(req, &st, 3600);
}

void opOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi)
{
    unsigned idx;
    if (!fileIndex(ino, &idx)) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    fi->direct_io = 1;
    fi->nonseekable = 1;
    fuse_reply_open(req, fi);
}

void opRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t, fuse_file_info *)
{
    unsigned idx;
    if (!fileIndex(ino, &idx)) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    File &f = gFiles[idx];
    f.readers.emplace_back(req, size);
    fuse_req_interrupt_func(req, onInterrupt, &f);
    pump(f);
}

void opWrite(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t, fuse_file_info *)
{
    unsigned idx;
    if (!fileIndex(ino, &idx)) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    File &f = gFiles[idx];
    if (f.queued >= kCapacityBytes || !f.writers.empty()) {
        f.writers.push_back(ParkedWrite{req, std::vector<char>(buf, buf + size)});
        fuse_req_interrupt_func(req, onInterrupt, &f);
        return;
    }
    append(f, std::vector<char>(buf, buf + size));
    fuse_reply_write(req, size);
    pump(f);
}

void opSetattr(fuse_req_t req, fuse_ino_t ino, struct stat *, int, fuse_file_info *fi)
{
    opGetattr(req, ino, fi);  // truncate and friends change nothing
}

fuse_session *gSession = nullptr;
unsigned gPollUs = 0;

// The same polling read as chanfs's (fs/fuse/stream_io.cpp), minus the
// lock: one thread reads.
ssize_t pollingRead(int fd, void *buf, size_t len, void *)
{
    static chanfs::fs::PollWindow window(gPollUs);
    auto exited = [] { return fuse_session_exited(gSession) != 0; };
    auto tryRead = [&] { return ::read(fd, buf, len); };
    auto spinRead = [&](uint64_t deadlineNs) {
        return chanfs::fs::spinUntil(deadlineNs, tryRead, exited);
    };
    return chanfs::fs::readPolling(fd, window, false, tryRead, spinRead, exited);
}

int installPolling(fuse_session *se, unsigned pollUs)
{
    gSession = se;
    gPollUs = pollUs;
    const int fd = fuse_session_fd(se);
    const int fl = ::fcntl(fd, F_GETFL);
    if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -1;
    fuse_custom_io io{};
    io.writev = [](int f, iovec *iov, int count, void *) { return ::writev(f, iov, count); };
    io.read = pollingRead;
    return fuse_session_custom_io(se, &io, fd);
}

}  // namespace

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 3) {
        std::fprintf(stderr, "usage: %s MOUNTPOINT [POLL_US]\n", argv[0]);
        return 2;
    }
    const unsigned pollUs =
        argc == 3 ? static_cast<unsigned>(std::strtoul(argv[2], nullptr, 10)) : 0;
    fuse_lowlevel_ops ops{};
    ops.init = opInit;
    ops.lookup = opLookup;
    ops.getattr = opGetattr;
    ops.setattr = opSetattr;
    ops.open = opOpen;
    ops.read = opRead;
    ops.write = opWrite;

    char prog[] = "chanfs-bare-fuse";
    char dashO[] = "-o";
    char opts[] = "fsname=barefuse,subtype=barefuse";
    char *fargv[] = {prog, dashO, opts};
    fuse_args args = FUSE_ARGS_INIT(3, fargv);
    fuse_session *se = fuse_session_new(&args, &ops, sizeof ops, nullptr);
    if (!se) return 1;
    int rc = 1;
    if (fuse_set_signal_handlers(se) == 0) {
        if (fuse_session_mount(se, argv[1]) == 0) {
            if (pollUs == 0 || installPolling(se, pollUs) == 0) {
                // A signal ends the loop with its number: a clean stop.
                rc = fuse_session_loop(se) < 0 ? 1 : 0;
            }
            fuse_session_unmount(se);
        }
        fuse_remove_signal_handlers(se);
    }
    fuse_session_destroy(se);
    return rc;
}
