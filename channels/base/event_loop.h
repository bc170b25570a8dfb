// One epoll loop on its own thread for all bridge I/O (FIFOs, sockets):
// no thread per connection. Callbacks and posted tasks run on the loop
// thread, one at a time, so bridge state touched only from them needs no
// lock.
//
// Threading contract: post(), postAfter() and sync() may be called from any
// thread. watch()/unwatch() only from the loop thread (inside a callback or
// a posted task). sync() must not be called from the loop thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include "channels/base/mutex.h"
#include "channels/base/unique_fd.h"

namespace chanfs {

class EventLoop {
public:
    using Task = std::function<void()>;
    // Called with the epoll event bits that fired.
    using FdCallback = std::function<void(uint32_t events)>;

    EventLoop();
    // Stops the thread; tasks still queued are dropped.
    ~EventLoop();
    EventLoop(const EventLoop &) = delete;
    EventLoop &operator=(const EventLoop &) = delete;

    // 0, or -errno if the loop could not be set up (no epoll/eventfd).
    int status() const { return status_; }

    // Runs `task` on the loop thread soon. False if the loop is stopping.
    bool post(Task task) EXCLUDES(mu_);
    // Runs `task` on the loop thread after `delay`.
    bool postAfter(std::chrono::milliseconds delay, Task task) EXCLUDES(mu_);
    // Runs `task` on the loop thread and waits for it to finish.
    void sync(Task task) EXCLUDES(mu_);
    bool onLoopThread() const { return std::this_thread::get_id() == thread_.get_id(); }

    // Loop thread only. watch() replaces an existing registration of fd.
    int watch(int fd, uint32_t events, FdCallback cb);
    void unwatch(int fd);

    // How many fd callbacks have run: a loop that spins on a ready fd shows
    // here (and in tests) as a count that keeps climbing.
    uint64_t dispatched() const { return dispatched_.load(std::memory_order_relaxed); }

private:
    void run() EXCLUDES(mu_);
    void wake();

    int status_ = 0;
    UniqueFd epoll_;
    UniqueFd wakeFd_;
    // A leaf lock: held only to queue or take tasks, never while one runs,
    // so a task may lock anything (a channel's mutex) and post again.
    Mutex mu_;
    std::vector<Task> tasks_ GUARDED_BY(mu_);
    std::multimap<std::chrono::steady_clock::time_point, Task> timers_ GUARDED_BY(mu_);
    bool stopping_ GUARDED_BY(mu_) = false;
    // Loop thread only. Callbacks are shared so one can unwatch itself.
    std::unordered_map<int, std::shared_ptr<FdCallback>> watched_;
    std::atomic<uint64_t> dispatched_{0};
    std::thread thread_;
};

}  // namespace chanfs
