// chanfs-bench plumbing: clocks, whole-buffer I/O, the daemons under test,
// and a watchdog. A benchmark that hangs or fails tears its mounts down
// first: no mount or daemon outlives chanfs-bench, however it ends.
//
// Threading: fail(), Watchdog and the I/O helpers may be called from any
// thread; a Daemon is started and stopped by the main thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace chanfs::bench {

using Clock = std::chrono::steady_clock;

inline double secondsBetween(Clock::time_point a, Clock::time_point b)
{
    return std::chrono::duration<double>(b - a).count();
}

// Prints "chanfs-bench: <what>", stops every daemon, unmounts, exits 1.
[[noreturn]] void fail(const std::string &what);
// A directory fail() removes after unmounting (the run's temporary files).
void setScratchDir(const std::string &dir);
// Makes SIGINT, SIGTERM and SIGHUP fail() the run, so Ctrl-C unmounts too.
// Call first in main(), before any thread starts.
void stopOnSignals();
// fail() with strerror(errno) appended.
[[noreturn]] void failErrno(const std::string &what);

// write(2) until every byte is written; fails the run on error.
void writeAll(int fd, const char *data, size_t len);
// One read(2), retried on EINTR; fails the run on error.
size_t readSome(int fd, char *buf, size_t len);
// read(2) until exactly len bytes have arrived; fails on error or EOF.
void readExact(int fd, char *buf, size_t len);

// A page-aligned buffer (misaligned 1 MiB writes reach FUSE as two
// requests), filled with 'x' and ended by '\n' so that it is one line.
class Buffer {
public:
    explicit Buffer(size_t size);
    char *data() { return p_.get(); }
    size_t size() const { return size_; }

private:
    struct Free {
        void operator()(char *p) const;
    };
    std::unique_ptr<char, Free> p_;
    size_t size_;
};

struct ProcStats {
    size_t rssBytes = 0;
    unsigned threads = 0;
};
ProcStats procStats(pid_t pid);
// User + system CPU time of all of pid's threads so far (10 ms ticks).
double cpuSeconds(pid_t pid);

// A FUSE daemon run in the foreground on a mountpoint of its own. Stopping
// sends SIGTERM, waits up to 5 s (then SIGKILL), and always ends with
// `fusermount3 -u -z` on the mountpoint.
class Daemon {
public:
    // argv[0] is the program; waits until the mount is up (10 s at most).
    static std::unique_ptr<Daemon> start(const std::string &label, std::vector<std::string> argv,
                                         const std::string &mountpoint, const std::string &logPath);
    // The same, but a daemon that exits or does not mount within
    // `seconds` is a nullptr and *why (with its log's last lines), not a
    // failed run: for daemons whose figures may be "n/a".
    static std::unique_ptr<Daemon> tryStart(const std::string &label, std::vector<std::string> argv,
                                            const std::string &mountpoint,
                                            const std::string &logPath, double seconds,
                                            std::string *why);
    ~Daemon();
    Daemon(const Daemon &) = delete;
    Daemon &operator=(const Daemon &) = delete;

    pid_t pid() const { return pid_; }
    const std::string &mountpoint() const { return mountpoint_; }
    // Stops the daemon; returns its exit status (or -1 if it had to be killed).
    int stop();
    // SIGKILL and a lazy unmount: requests it was serving fail with
    // ENOTCONN, so threads blocked on its files return.
    void kill();

    Daemon(std::string label, pid_t pid, std::string mountpoint);  // use start()

private:
    std::string label_;
    pid_t pid_;
    std::string mountpoint_;
    bool stopped_ = false;
};

// Fails the run if the armed step does not disarm within its time limit.
class Watchdog {
public:
    Watchdog();
    ~Watchdog();
    void arm(const std::string &step, double seconds);
    void disarm();

private:
    struct State;
    std::shared_ptr<State> state_;
};

// Spawns argv with stdout/stderr to /dev/null and waits; returns the exit
// status or -1.
int runQuiet(const std::vector<std::string> &argv);

// Starts argv in the background with stdout/stderr appended to logPath
// and registers it, so fail() kills it (after the daemons: their mounts go
// first). -1 if it cannot be started. For servers the daemons talk to.
pid_t startChild(const std::vector<std::string> &argv, const std::string &logPath);
// SIGTERM, up to `seconds` for it to exit, then SIGKILL; reaps it and
// forgets it. Returns its exit status, or -1 if it was killed.
int stopChild(pid_t pid, double seconds);
// The last `lines` lines of a file (a log), for "n/a (why)" lines.
std::string tailOf(const std::string &path, unsigned lines);

}  // namespace chanfs::bench
