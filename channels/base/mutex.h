// std::mutex with clang thread-safety annotations (thread_annotations.h), so
// members can be declared GUARDED_BY it and helpers REQUIRES it, and the
// compiler checks every access. Mutex is a BasicLockable: std::unique_lock
// and std::condition_variable_any work with it; prefer MutexLock, which the
// analysis understands, and CondVar, whose waits REQUIRE the mutex (a
// predicate lambda would be checked as a function that holds no lock, so
// callers loop: `while (!ready_) cv_.wait(mu_);`).
//
// Threading contract: the same as std::mutex and std::condition_variable.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "channels/base/thread_annotations.h"

namespace chanfs {

class CAPABILITY("mutex") Mutex {
public:
    void lock() ACQUIRE() { mu_.lock(); }
    void unlock() RELEASE() { mu_.unlock(); }
    bool try_lock() TRY_ACQUIRE(true) { return mu_.try_lock(); }
    // For std::condition_variable, which needs the std::mutex itself.
    std::mutex &native() { return mu_; }

private:
    std::mutex mu_;
};

// Holds a Mutex for its scope.
class SCOPED_CAPABILITY MutexLock {
public:
    explicit MutexLock(Mutex &mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
    ~MutexLock() RELEASE() { mu_.unlock(); }
    MutexLock(const MutexLock &) = delete;
    MutexLock &operator=(const MutexLock &) = delete;

private:
    Mutex &mu_;
};

// A condition variable for Mutex. Each wait releases the mutex while it
// sleeps and holds it again when it returns (also spuriously: loop on the
// condition).
class CondVar {
public:
    void wait(Mutex &mu) REQUIRES(mu)
    {
        std::unique_lock<std::mutex> lock(mu.native(), std::adopt_lock);
        cv_.wait(lock);
        lock.release();  // the caller's MutexLock still owns it
    }
    // std::cv_status::timeout once `deadline` has passed.
    template <class Clock, class Duration>
    std::cv_status waitUntil(Mutex &mu, std::chrono::time_point<Clock, Duration> deadline)
        REQUIRES(mu)
    {
        std::unique_lock<std::mutex> lock(mu.native(), std::adopt_lock);
        const std::cv_status st = cv_.wait_until(lock, deadline);
        lock.release();
        return st;
    }
    void notifyOne() { cv_.notify_one(); }
    void notifyAll() { cv_.notify_all(); }

private:
    std::condition_variable cv_;
};

}  // namespace chanfs
