#include "tools/bench/segment_meter.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace chanfs::bench {

std::unique_ptr<SegmentMeter> SegmentMeter::watch(const std::string &dir, std::string *why)
{
    UniqueFd fan(::fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK,
                                 O_RDONLY | O_LARGEFILE | O_CLOEXEC));
    if (!fan) {
        *why = std::string("fanotify_init: ") + std::strerror(errno);
        return nullptr;
    }
    if (::fanotify_mark(fan.get(), FAN_MARK_ADD, FAN_CLOSE_WRITE | FAN_EVENT_ON_CHILD, AT_FDCWD,
                        dir.c_str()) != 0) {
        *why = "fanotify_mark " + dir + ": " + std::strerror(errno);
        return nullptr;
    }
    UniqueFd stop(::eventfd(0, EFD_CLOEXEC));
    if (!stop) {
        *why = std::string("eventfd: ") + std::strerror(errno);
        return nullptr;
    }
    auto m = std::make_unique<SegmentMeter>(std::move(fan), std::move(stop));
    m->thread_ = std::thread([p = m.get()] { p->run(); });
    return m;
}

SegmentMeter::SegmentMeter(UniqueFd fan, UniqueFd stop)
    : fan_(std::move(fan)), stop_(std::move(stop))
{
}

SegmentMeter::~SegmentMeter()
{
    if (thread_.joinable()) collect();
}

void SegmentMeter::run()
{
    std::vector<char> buf(64 * 1024);
    bool stopping = false;
    for (;;) {
        // After the stop request, whatever is queued is read; then done.
        if (!stopping) {
            pollfd fds[2] = {{fan_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
            if (::poll(fds, 2, -1) < 0) {
                if (errno == EINTR) continue;
                lost_ = true;
                return;
            }
            stopping = fds[1].revents & POLLIN;
        }
        const ssize_t n = ::read(fan_.get(), buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                if (stopping) return;
                continue;
            }
            lost_ = true;
            return;
        }
        auto *meta = reinterpret_cast<const fanotify_event_metadata *>(buf.data());
        size_t len = static_cast<size_t>(n);
        for (; FAN_EVENT_OK(meta, len); meta = FAN_EVENT_NEXT(meta, len)) {
            if (meta->vers != FANOTIFY_METADATA_VERSION || (meta->mask & FAN_Q_OVERFLOW) ||
                meta->fd < 0) {
                lost_ = true;
                if (meta->fd >= 0) ::close(meta->fd);
                continue;
            }
            struct stat st {};
            if (::fstat(meta->fd, &st) == 0 && S_ISREG(st.st_mode)) {
                use_.bytes += static_cast<uint64_t>(st.st_size);
                ++use_.segments;
            }
            ::close(meta->fd);
        }
    }
}

std::optional<DiskUse> SegmentMeter::collect()
{
    if (thread_.joinable()) {
        const uint64_t one = 1;
        if (::write(stop_.get(), &one, sizeof one) != sizeof one) lost_ = true;
        thread_.join();
    }
    if (lost_ || use_.segments == 0) return std::nullopt;
    return use_;
}

}  // namespace chanfs::bench
