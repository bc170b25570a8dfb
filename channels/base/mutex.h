// std::mutex with clang thread-safety annotations (thread_annotations.h), so
// members can be declared GUARDED_BY it and helpers REQUIRES it, and the
// compiler checks every access. Mutex is a BasicLockable: std::unique_lock
// and std::condition_variable_any work with it; prefer MutexLock, which the
// analysis understands.
#pragma once

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

}  // namespace chanfs
