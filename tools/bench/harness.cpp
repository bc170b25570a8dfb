#include "tools/bench/harness.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

extern char **environ;

namespace chanfs::bench {

namespace {

// Mountpoints and pids to clean up if the run fails from any thread.
std::mutex gLiveMu;
std::vector<std::pair<pid_t, std::string>> gLive;
std::vector<pid_t> gChildren;  // servers: killed after the daemons
std::string gStep;     // what the watchdog is timing, named when a run fails
std::string gScratch;  // removed by fail() once nothing is mounted in it

pid_t spawn(const std::vector<std::string> &argv, const std::string &outPath)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, outPath.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    // The bench blocks SIGINT/SIGTERM for its signal thread; children must not.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    std::vector<char *> args;
    for (const std::string &a : argv) args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    const int rc = posix_spawnp(&pid, args[0], &fa, &attr, args.data(), environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0 ? pid : -1;
}

bool isMounted(const std::string &mountpoint)
{
    struct stat a, b;
    if (::stat(mountpoint.c_str(), &a) != 0) return false;
    if (::stat((mountpoint + "/..").c_str(), &b) != 0) return false;
    return a.st_dev != b.st_dev;
}

std::string slurp(const std::string &path)
{
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

int runQuiet(const std::vector<std::string> &argv)
{
    const pid_t pid = spawn(argv, "/dev/null");
    if (pid < 0) return -1;
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void fail(const std::string &what)
{
    std::lock_guard g(gLiveMu);
    std::fprintf(stderr, "\nchanfs-bench: %s%s%s\n", gStep.c_str(), gStep.empty() ? "" : ": ",
                 what.c_str());
    for (auto &[pid, mnt] : gLive) {
        ::kill(pid, SIGKILL);
        runQuiet({"fusermount3", "-u", "-z", mnt});
    }
    // A daemon with a state directory could still be writing into the
    // scratch directory: give them up to 2 s to be gone.
    const auto deadline = Clock::now() + std::chrono::seconds(2);
    for (auto &[pid, mnt] : gLive) {
        while (::waitpid(pid, nullptr, WNOHANG) == 0 && Clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    for (pid_t pid : gChildren) {
        ::kill(pid, SIGKILL);
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {}
    }
    if (!gScratch.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(gScratch, ec);
    }
    std::_Exit(1);
}

pid_t startChild(const std::vector<std::string> &argv, const std::string &logPath)
{
    std::lock_guard g(gLiveMu);  // fail() sees it, or it is not started
    const pid_t pid = spawn(argv, logPath);
    if (pid > 0) gChildren.push_back(pid);
    return pid;
}

int stopChild(pid_t pid, double seconds)
{
    ::kill(pid, SIGTERM);
    int status = 0, rc = -1;
    const auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    for (;;) {
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            break;
        }
        if (r < 0 && errno != EINTR) break;
        if (Clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::lock_guard g(gLiveMu);
    std::erase(gChildren, pid);
    return rc;
}

std::string tailOf(const std::string &path, unsigned lines)
{
    std::vector<std::string> all;
    std::istringstream in(slurp(path));
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) all.push_back(line);
    std::string out;
    for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i)
        out += (out.empty() ? "" : " | ") + all[i];
    return out.empty() ? "(empty log)" : out;
}

void setScratchDir(const std::string &dir)
{
    std::lock_guard g(gLiveMu);
    gScratch = dir;
}

void stopOnSignals()
{
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread([set] {
        int sig = 0;
        sigwait(&set, &sig);
        fail(std::string("stopped by ") + strsignal(sig));
    }).detach();
}

void failErrno(const std::string &what)
{
    fail(what + ": " + std::strerror(errno));
}

void writeAll(int fd, const char *data, size_t len)
{
    while (len > 0) {
        const ssize_t n = ::write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            failErrno("write");
        }
        data += n;
        len -= static_cast<size_t>(n);
    }
}

size_t readSome(int fd, char *buf, size_t len)
{
    for (;;) {
        const ssize_t n = ::read(fd, buf, len);
        if (n >= 0) return static_cast<size_t>(n);
        if (errno != EINTR) failErrno("read");
    }
}

void readExact(int fd, char *buf, size_t len)
{
    while (len > 0) {
        const size_t n = readSome(fd, buf, len);
        if (n == 0) fail("unexpected end of stream");
        buf += n;
        len -= n;
    }
}

void Buffer::Free::operator()(char *p) const
{
    std::free(p);
}

Buffer::Buffer(size_t size) : size_(size)
{
    const size_t rounded = (size + 4095) / 4096 * 4096;
    p_.reset(static_cast<char *>(std::aligned_alloc(4096, rounded)));
    if (!p_) fail("out of memory");
    std::memset(p_.get(), 'x', size);
    if (size > 0) p_.get()[size - 1] = '\n';
}

ProcStats procStats(pid_t pid)
{
    ProcStats s;
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) s.rssBytes = std::stoull(line.substr(6)) * 1024;
        if (line.rfind("Threads:", 0) == 0)
            s.threads = static_cast<unsigned>(std::stoul(line.substr(8)));
    }
    return s;
}

double cpuSeconds(pid_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    std::istringstream rest(stat.substr(stat.rfind(')') + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i)
        if (i >= 14) ticks += std::stod(field);
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

Daemon::Daemon(std::string label, pid_t pid, std::string mountpoint)
    : label_(std::move(label)), pid_(pid), mountpoint_(std::move(mountpoint))
{
}

std::unique_ptr<Daemon> Daemon::tryStart(const std::string &label, std::vector<std::string> argv,
                                         const std::string &mountpoint, const std::string &logPath,
                                         double seconds, std::string *why)
{
    const pid_t pid = spawn(argv, logPath);
    if (pid < 0) {
        *why = "cannot start " + argv[0];
        return nullptr;
    }
    {
        std::lock_guard g(gLiveMu);
        gLive.emplace_back(pid, mountpoint);
    }
    auto d = std::make_unique<Daemon>(label, pid, mountpoint);
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(seconds));
    while (!isMounted(mountpoint)) {
        int status;
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            d->stopped_ = true;
            {
                std::lock_guard g(gLiveMu);
                std::erase_if(gLive, [pid](const auto &e) { return e.first == pid; });
            }
            *why = label + " exited before mounting: " + tailOf(logPath, 2);
            return nullptr;
        }
        if (Clock::now() > deadline) {
            d->kill();
            *why = label + " did not mount within " + std::to_string(static_cast<int>(seconds)) +
                   " s: " + tailOf(logPath, 2);
            return nullptr;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return d;
}

void Daemon::kill()
{
    if (stopped_) return;
    stopped_ = true;
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {}
    runQuiet({"fusermount3", "-u", "-z", mountpoint_});
    std::lock_guard g(gLiveMu);
    std::erase_if(gLive, [this](const auto &e) { return e.first == pid_; });
}

std::unique_ptr<Daemon> Daemon::start(const std::string &label, std::vector<std::string> argv,
                                      const std::string &mountpoint, const std::string &logPath)
{
    const pid_t pid = spawn(argv, logPath);
    if (pid < 0) fail("cannot start " + argv[0]);
    {
        std::lock_guard g(gLiveMu);
        gLive.emplace_back(pid, mountpoint);
    }
    auto d = std::make_unique<Daemon>(label, pid, mountpoint);
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!isMounted(mountpoint)) {
        int status;
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            d->stopped_ = true;
            fail(label + " exited before mounting; its log:\n" + slurp(logPath));
        }
        if (Clock::now() > deadline)
            fail(label + " did not mount within 10 s; its log:\n" + slurp(logPath));
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return d;
}

int Daemon::stop()
{
    if (stopped_) return 0;
    stopped_ = true;
    ::kill(pid_, SIGTERM);
    int status = 0;
    int rc = -1;
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    for (;;) {
        const pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            break;
        }
        if (Clock::now() > deadline) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    runQuiet({"fusermount3", "-u", "-z", mountpoint_});
    std::lock_guard g(gLiveMu);
    std::erase_if(gLive, [this](const auto &e) { return e.first == pid_; });
    return rc;
}

Daemon::~Daemon()
{
    stop();
}

struct Watchdog::State {
    std::mutex mu;
    std::condition_variable cv;
    std::string step;
    Clock::time_point deadline = Clock::time_point::max();
    bool quit = false;
};

Watchdog::Watchdog() : state_(std::make_shared<State>())
{
    std::thread([s = state_] {
        std::unique_lock lk(s->mu);
        while (!s->quit) {
            if (Clock::now() >= s->deadline) fail("timed out: " + s->step);
            if (s->deadline == Clock::time_point::max())
                s->cv.wait(lk);
            else
                s->cv.wait_until(lk, s->deadline);
        }
    }).detach();
}

Watchdog::~Watchdog()
{
    std::lock_guard g(state_->mu);
    state_->quit = true;
    state_->cv.notify_all();
}

void Watchdog::arm(const std::string &step, double seconds)
{
    std::lock_guard g(state_->mu);
    state_->step = step;
    {
        std::lock_guard live(gLiveMu);
        gStep = step;
    }
    state_->deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(seconds));
    state_->cv.notify_all();
}

void Watchdog::disarm()
{
    std::lock_guard g(state_->mu);
    state_->deadline = Clock::time_point::max();
}

}  // namespace chanfs::bench
