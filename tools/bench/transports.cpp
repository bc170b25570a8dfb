#include "tools/bench/transports.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "tools/bench/harness.h"

namespace chanfs::bench {

namespace {

std::atomic<unsigned> gSerial{0};

std::string fresh(const std::string &dir, const std::string &stem)
{
    return dir + "/" + stem + "-" + std::to_string(gSerial++);
}

UniqueFd openOrFail(const std::string &path, int flags)
{
    UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC));
    if (!fd) failErrno("open " + path);
    return fd;
}

void setXattr(const std::string &path, const std::string &key, const std::string &value)
{
    if (::setxattr(path.c_str(), ("user.chanfs." + key).c_str(), value.data(), value.size(), 0) !=
        0)
        failErrno("setxattr " + key + "=" + value + " on " + path);
}

class KernelPipe final : public Transport {
public:
    KernelPipe() : Transport("kernel pipe", Group::Kernel) {}
    Link link() override
    {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) failErrno("pipe2");
        Link l;
        l.r.reset(fds[0]);
        l.w.reset(fds[1]);
        return l;
    }
};

class KernelFifo final : public Transport {
public:
    explicit KernelFifo(std::string dir)
        : Transport("kernel FIFO", Group::Kernel), dir_(std::move(dir))
    {
    }
    Link link() override
    {
        const std::string path = fresh(dir_, "fifo");
        if (::mkfifo(path.c_str(), 0600) != 0) failErrno("mkfifo " + path);
        Link l;
        // Read end first and non-blocking, so that opening does not wait.
        l.r = openOrFail(path, O_RDONLY | O_NONBLOCK);
        l.w = openOrFail(path, O_WRONLY);
        if (::fcntl(l.r.get(), F_SETFL, O_RDONLY) != 0) failErrno("fcntl");
        ::unlink(path.c_str());
        return l;
    }

private:
    std::string dir_;
};

class KernelSocket final : public Transport {
public:
    explicit KernelSocket(bool seqpacket)
        : Transport(seqpacket ? "kernel UDS seqpacket" : "kernel UDS stream", Group::Kernel,
                    seqpacket ? 128 * 1024 : SIZE_MAX),
          type_(seqpacket ? SOCK_SEQPACKET : SOCK_STREAM)
    {
    }
    Link link() override
    {
        int fds[2];
        if (::socketpair(AF_UNIX, type_ | SOCK_CLOEXEC, 0, fds) != 0) failErrno("socketpair");
        Link l;
        l.r.reset(fds[0]);
        l.w.reset(fds[1]);
        return l;
    }

private:
    int type_;
};

class BareFuse final : public Transport {
public:
    BareFuse(std::string mnt, std::string name)
        : Transport(std::move(name), Group::BareFuse), mnt_(std::move(mnt))
    {
    }
    Link link() override
    {
        // Every measurement drains what it wrote, so the 64 files can be reused.
        const std::string path = mnt_ + "/" + std::to_string(next_++ % 64);
        Link l;
        l.r = openOrFail(path, O_RDONLY);
        l.w = openOrFail(path, O_WRONLY);
        return l;
    }

private:
    std::string mnt_;
    unsigned next_ = 0;
};

std::string deliveryLabel(const std::string &delivery)
{
    return delivery.empty() ? std::string() : " delivery=" + delivery;
}

class ChanfsChannel final : public Transport {
public:
    ChanfsChannel(std::string dir, std::string kind, std::string framing, std::string delivery)
        : Transport("chanfs " + kind + "/" + framing + deliveryLabel(delivery), Group::Chanfs),
          dir_(std::move(dir)), kind_(std::move(kind)), framing_(std::move(framing)),
          delivery_(std::move(delivery))
    {
    }
    Link link() override
    {
        const std::string path = fresh(dir_, kind_);
        makeChannel(path, kind_, framing_);
        if (!delivery_.empty()) setXattr(path, "delivery", delivery_);
        Link l;
        l.r = openOrFail(path, O_RDONLY);
        l.w = openOrFail(path, O_WRONLY);
        l.readsWholeLines = framing_ == "lines";
        l.removeAfter.push_back(path);
        return l;
    }

private:
    std::string dir_, kind_, framing_, delivery_;
};

class ChanfsDurable final : public Transport {
public:
    ChanfsDurable(std::string dir, std::string stateSource, const std::string &fsync)
        : Transport("chanfs durable queue fsync=" + fsync, Group::Chanfs, SIZE_MAX, fsync),
          dir_(std::move(dir)), stateSource_(std::move(stateSource))
    {
    }
    Link link() override
    {
        const std::string path = fresh(dir_, "durable");
        makeChannel(path, "queue", "lines");
        // The policy first, so that it holds from the journal's first segment.
        setXattr(path, "fsync", fsyncPolicy());
        setXattr(path, "durable", "1");
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) failErrno("stat " + path);
        // The journal's directory (fs/tree/state_store.h): SOURCE/state/channels/<ino>.
        const std::string journal = stateSource_ + "/state/channels/" + std::to_string(st.st_ino);
        if (::access(journal.c_str(), F_OK) != 0)
            failErrno("durable channel " + path + ": no journal at " + journal);
        std::string why;
        if (auto m = SegmentMeter::watch(journal, &why))
            meters_.push_back(std::move(m));
        else
            unmetered_ = true, why_ = why;
        Link l;
        l.r = openOrFail(path, O_RDONLY);
        l.w = openOrFail(path, O_WRONLY);
        l.readsWholeLines = true;
        l.removeAfter.push_back(path);
        return l;
    }
    std::optional<DiskUse> takeDiskUse() override
    {
        DiskUse sum;
        bool whole = !unmetered_ && !meters_.empty();
        for (auto &m : meters_) {
            if (std::optional<DiskUse> u = m->collect()) {
                sum.bytes += u->bytes;
                sum.segments += u->segments;
            } else {
                whole = false;
                if (why_.empty()) why_ = "a fanotify report was lost";
            }
        }
        meters_.clear();
        unmetered_ = false;
        return whole ? std::optional<DiskUse>(sum) : std::nullopt;
    }
    std::string whyNoDiskUse() const override { return why_; }

private:
    std::string dir_, stateSource_;
    std::vector<std::unique_ptr<SegmentMeter>> meters_;
    bool unmetered_ = false;
    std::string why_;
};

UniqueFd connectTo(const std::string &socketPath)
{
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) failErrno("socket");
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, socketPath.c_str(), sizeof sa.sun_path - 1);
    // The listener is set up by the setxattr that returned; retry briefly
    // in case the bridge loop has not run yet.
    for (int i = 0;; ++i) {
        if (::connect(fd.get(), reinterpret_cast<sockaddr *>(&sa), sizeof sa) == 0) return fd;
        if (i == 200) failErrno("connect " + socketPath);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

class ChanfsListen final : public Transport {
public:
    ChanfsListen(std::string dir, std::string socketDir, bool toFile, std::string delivery)
        : Transport(std::string(toFile ? "chanfs uds-listen socket->file"
                                       : "chanfs uds-listen file->socket") +
                        deliveryLabel(delivery),
                    Group::Chanfs),
          dir_(std::move(dir)), socketDir_(std::move(socketDir)), toFile_(toFile),
          delivery_(std::move(delivery))
    {
    }
    Link link() override
    {
        auto [there, back] = duplex();
        if (!toFile_) return std::move(back);
        there.removeAfter.swap(back.removeAfter);  // the channel lives as long as the kept link
        return std::move(there);
    }
    std::pair<Link, Link> duplex() override
    {
        const unsigned serial = gSerial++;
        const std::string path = dir_ + "/listen-" + std::to_string(serial);
        const std::string sock = socketDir_ + "/listen-" + std::to_string(serial) + ".sock";
        makeChannel(path, "queue", "lines");
        if (!delivery_.empty()) setXattr(path, "delivery", delivery_);
        setXattr(path, "uds", "listen:" + sock);
        UniqueFd client = connectTo(sock);
        UniqueFd clientDup(::fcntl(client.get(), F_DUPFD_CLOEXEC, 0));
        if (!clientDup) failErrno("dup");
        // there: client -> file; back: file -> client.
        Link there, back;
        there.r = openOrFail(path, O_RDONLY);
        there.w = std::move(client);
        there.readsWholeLines = true;
        back.r = std::move(clientDup);
        back.w = openOrFail(path, O_WRONLY);
        back.removeAfter.push_back(path);  // back goes last in either use
        return {std::move(there), std::move(back)};
    }

private:
    std::string dir_, socketDir_;
    bool toFile_;
    std::string delivery_;
};

}  // namespace

Link::~Link()
{
    w.reset();
    r.reset();
    for (const std::string &p : removeAfter) ::unlink(p.c_str());
}

void makeChannel(const std::string &path, const std::string &kind, const std::string &framing)
{
    UniqueFd fd(::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600));
    if (!fd) failErrno("create " + path);
    fd.reset();
    setXattr(path, "kind", kind);
    setXattr(path, "framing", framing);
    setXattr(path, "capacity", "4M");
    if (framing != "bytes") setXattr(path, "max_message", "4M");
}

std::unique_ptr<Transport> kernelPipe()
{
    return std::make_unique<KernelPipe>();
}
std::unique_ptr<Transport> kernelFifo(const std::string &dir)
{
    return std::make_unique<KernelFifo>(dir);
}
std::unique_ptr<Transport> kernelUnixSocket(bool seqpacket)
{
    return std::make_unique<KernelSocket>(seqpacket);
}
std::unique_ptr<Transport> bareFuse(const std::string &mnt, const std::string &name)
{
    return std::make_unique<BareFuse>(mnt, name);
}
std::unique_ptr<Transport> chanfsChannel(const std::string &dir, const std::string &kind,
                                         const std::string &framing, const std::string &delivery)
{
    return std::make_unique<ChanfsChannel>(dir, kind, framing, delivery);
}
std::unique_ptr<Transport> chanfsDurable(const std::string &dir, const std::string &stateSource,
                                         const std::string &fsync)
{
    return std::make_unique<ChanfsDurable>(dir, stateSource, fsync);
}
std::unique_ptr<Transport> chanfsListen(const std::string &dir, const std::string &socketDir,
                                        bool toFile, const std::string &delivery)
{
    return std::make_unique<ChanfsListen>(dir, socketDir, toFile, delivery);
}

}  // namespace chanfs::bench
