#include "channels/base/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include <spdlog/spdlog.h>

namespace chanfs {

EventLoop::EventLoop()
{
    epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
    wakeFd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!epoll_ || !wakeFd_) {
        status_ = -errno;
        return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wakeFd_.get();
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wakeFd_.get(), &ev) < 0) {
        status_ = -errno;
        return;
    }
    thread_ = std::thread([this] { run(); });
}

EventLoop::~EventLoop()
{
    {
        MutexLock g(mu_);
        stopping_ = true;
    }
    wake();
    if (thread_.joinable()) thread_.join();
}

void EventLoop::wake()
{
    const uint64_t one = 1;
    // EAGAIN: the counter is already non-zero, the loop will wake anyway.
    [[maybe_unused]] ssize_t n = ::write(wakeFd_.get(), &one, sizeof one);
}

bool EventLoop::post(Task task)
{
    {
        MutexLock g(mu_);
        if (stopping_ || status_ != 0) return false;
        tasks_.push_back(std::move(task));
    }
    wake();
    return true;
}

bool EventLoop::postAfter(std::chrono::milliseconds delay, Task task)
{
    {
        MutexLock g(mu_);
        if (stopping_ || status_ != 0) return false;
        timers_.emplace(std::chrono::steady_clock::now() + delay, std::move(task));
    }
    wake();
    return true;
}

void EventLoop::sync(Task task)
{
    Mutex m;
    CondVar cv;
    bool done = false;  // under m
    const bool posted = post([&] {
        task();
        MutexLock g(m);
        done = true;
        cv.notifyOne();
    });
    if (!posted) {
        // Stopping (or never started): nothing else runs bridge code now.
        task();
        return;
    }
    MutexLock l(m);
    while (!done) cv.wait(m);
}

int EventLoop::watch(int fd, uint32_t events, FdCallback cb)
{
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    const bool known = watched_.count(fd) != 0;
    if (::epoll_ctl(epoll_.get(), known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    watched_[fd] = std::make_shared<FdCallback>(std::move(cb));
    return 0;
}

void EventLoop::unwatch(int fd)
{
    if (watched_.erase(fd) != 0) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

void EventLoop::run()
{
    std::vector<epoll_event> events(64);
    for (;;) {
        int timeoutMs = -1;
        std::vector<Task> due;
        {
            MutexLock g(mu_);
            if (stopping_) return;
            due.swap(tasks_);
            const auto now = std::chrono::steady_clock::now();
            while (!timers_.empty() && timers_.begin()->first <= now) {
                due.push_back(std::move(timers_.begin()->second));
                timers_.erase(timers_.begin());
            }
            if (!due.empty()) {
                timeoutMs = 0;
            } else if (!timers_.empty()) {
                const auto wait =
                    std::chrono::ceil<std::chrono::milliseconds>(timers_.begin()->first - now);
                timeoutMs = static_cast<int>(wait.count());
            }
        }
        for (Task &t : due) t();
        if (!due.empty()) continue;

        const int n =
            ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), timeoutMs);
        if (n < 0) {
            if (errno == EINTR) continue;
            spdlog::error("bridge event loop: epoll_wait failed: {}", std::strerror(errno));
            return;
        }
        for (int i = 0; i < n; ++i) {
            const int fd = events[i].data.fd;
            if (fd == wakeFd_.get()) {
                uint64_t count;
                [[maybe_unused]] ssize_t r = ::read(fd, &count, sizeof count);
                continue;
            }
            auto it = watched_.find(fd);
            if (it == watched_.end()) continue;  // unwatched by an earlier callback
            std::shared_ptr<FdCallback> cb = it->second;
            dispatched_.fetch_add(1, std::memory_order_relaxed);
            (*cb)(events[i].events);
        }
    }
}

}  // namespace chanfs
