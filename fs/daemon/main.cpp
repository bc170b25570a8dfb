// chanfs: mounts a directory of IPC channels.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>

#include "channels/base/log_limit.h"
#include "channels/base/unique_fd.h"
#include "channels/storage/nats/nats_link.h"
#include "channels/storage/nats/nats_tree_replica.h"
#include "channels/storage/registry.h"
#include "fs/base/log.h"
#include "fs/base/options.h"
#include "fs/config/config.h"
#include "fs/config/config_apply.h"
#include "fs/daemon/metrics.h"
#include "fs/daemon/service_notify.h"
#include "fs/fuse/session.h"
#include "fs/tree/filesystem.h"

using namespace chanfs;
using namespace chanfs::fs;

namespace {

// This run of the daemon in the shared tree's records, so it knows its own
// changes when they come back: unique per run, not per host (two mounts on
// one host are two writers).
std::string mountOrigin()
{
    std::random_device rd;
    const uint64_t r = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    char buf[48];
    std::snprintf(buf, sizeof buf, "%d-%016llx", static_cast<int>(::getpid()),
                  static_cast<unsigned long long>(r));
    return buf;
}

// The config file to read: -o config=FILE, else SOURCE/chanfs.toml if
// there is one. "" for none.
std::string configPath(const Options &opts)
{
    if (!opts.configFile.empty()) return opts.configFile;
    if (opts.source.empty()) return {};
    const std::string candidate = opts.source + "/" + kConfigFileName;
    struct stat st {};
    return ::stat(candidate.c_str(), &st) == 0 ? candidate : std::string();
}

// Goes to the background before anything starts a thread: the bridge event
// loop's thread would not survive the fork() of fuse_daemonize() after the
// mount. The parent waits for the child to report that it has mounted
// (mounted()) and exits 0, or with the code the child gave (failed()), or 1
// if the child died first; the child's messages reach the terminal until
// then. Returns in the child only.
class Detach {
public:
    // False if the fork failed (then nothing was detached).
    bool start()
    {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) return false;
        UniqueFd readEnd(fds[0]);
        notify_.reset(fds[1]);
        const pid_t pid = ::fork();
        if (pid < 0) return false;
        if (pid > 0) {
            notify_.reset();
            char code = 1;
            ssize_t n;
            do n = ::read(readEnd.get(), &code, 1);
            while (n < 0 && errno == EINTR);
            ::_exit(n == 1 ? code : 1);
        }
        ::setsid();
        return true;
    }
    // The mount is live: detach from the terminal and release the parent.
    void mounted()
    {
        if (::chdir("/") != 0) spdlog::warn("cannot change to /: {}", std::strerror(errno));
        UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
        if (null) {
            ::dup2(null.get(), 0);
            ::dup2(null.get(), 1);
            ::dup2(null.get(), 2);
        }
        report(0);
    }
    // The child gives up before mounting: the parent exits with `code`.
    void failed(int code) { report(static_cast<char>(code)); }

private:
    void report(char code)
    {
        if (!notify_) return;
        [[maybe_unused]] ssize_t n = ::write(notify_.get(), &code, 1);
        notify_.reset();
    }

    UniqueFd notify_;
};

}  // namespace

int main(int argc, char **argv)
{
    Options opts;
    std::string err;
    if (parseOptions(argc, argv, &opts, &err) != 0) {
        std::fprintf(stderr, "chanfs: %s\n%s", err.c_str(), usage("chanfs").c_str());
        return 2;
    }
    if (opts.help) {
        std::fputs(usage("chanfs").c_str(), stdout);
        return 0;
    }
    if (opts.version) {
        std::printf("chanfs %s\n", CHANFS_VERSION);
        return 0;
    }
    setupLogging(opts.logLevel, false, opts.logJson);
    for (const std::string &o : opts.ignoredOptions)
        spdlog::debug("-o {}: an fstab/mount(8) option, ignored", o);

    // The whole file is checked before anything is mounted or made.
    std::optional<Config> config;
    if (const std::string file = configPath(opts); !file.empty()) {
        std::vector<ConfigProblem> problems;
        config.emplace();
        if (!loadConfig(file, opts.defaults, &*config, &problems)) {
            for (const ConfigProblem &p : problems)
                std::fprintf(stderr, "chanfs: %s\n", formatProblem(file, p).c_str());
            std::fprintf(stderr, "chanfs: %s: refused, nothing mounted\n", file.c_str());
            return 2;
        }
    }

    // A FUSE mount there already (a live one would be hidden, a dead one
    // is what kill -9 without auto_unmount leaves): refused unless forced.
    if (checkMountpoint(opts, &err) < 0) {
        std::fprintf(stderr, "chanfs: %s\nchanfs: nothing mounted\n", err.c_str());
        return 2;
    }

    Detach detach;
    if (!opts.foreground && !detach.start()) {
        spdlog::error("cannot daemonize: {}", std::strerror(errno));
        return 1;
    }
    // The NATS link starts its threads, so after the fork above; before the
    // state directory, whose NATS channels open their stores on it. It
    // never waits for the network: a cluster that is down at mount time is
    // connected to later.
    std::shared_ptr<NatsLink> nats;
    // The config file's [nats] table fills in what no -o nats_* option gave.
    if (config) opts.nats = mergeNatsConfig(opts.nats, config->nats);
    if (opts.nats.enabled()) {
        if (NatsLink::open(opts.nats, &nats, &err) < 0) {
            std::fprintf(stderr, "chanfs: %s\nchanfs: nothing mounted\n", err.c_str());
            detach.failed(2);
            return 2;
        }
        setNatsLink(nats);
    }
    Filesystem fs(opts);
    // A state directory brings back the tree the last run left (config.h's
    // file then applies on top of it).
    if (opts.source.find('/') != std::string::npos) {
        const int rc = StateStore::open(opts.source, &fs.state, &err);
        if (rc < 0 || fs.state->restore(fs, &err) < 0) {
            std::fprintf(stderr, "chanfs: %s\nchanfs: nothing mounted\n", err.c_str());
            fs.closeAll();
            // Another daemon has the state directory: a usage error, like
            // a bad option, not a failure of this one.
            const int code = rc == -EBUSY ? 2 : 1;
            detach.failed(code);
            return code;
        }
    }
    if (config) {
        if (applyConfig(fs, *config, &err) < 0) {
            std::fprintf(stderr, "chanfs: %s\nchanfs: nothing mounted\n", err.c_str());
            fs.closeAll();
            return 1;
        }
    }
    if (fs.state && fs.state->compact(fs) < 0) {
        std::fprintf(stderr,
                     "chanfs: cannot write the state directory %s\nchanfs: nothing mounted\n",
                     opts.source.c_str());
        fs.closeAll();
        return 1;
    }
    // Before the mount, so a bad address refuses to mount rather than
    // leaving a mount nobody can watch.
    std::unique_ptr<MetricsServer> metrics;
    if (!opts.metricsAddress.empty()) {
        metrics = MetricsServer::start(fs, opts, &err);
        if (!metrics) {
            std::fprintf(stderr, "chanfs: %s\nchanfs: nothing mounted\n", err.c_str());
            fs.closeAll();
            return 1;
        }
    }
    std::unique_ptr<Session> session = Session::start(opts, fs, &err);
    if (!session) {
        spdlog::error("{}", err);
        fs.closeAll();
        return 1;
    }
    // The shared tree of NATS-backed directories: started once mounted (it
    // drops names from the kernel's cache) and before the request loop
    // (the handlers read fs.tree without a lock).
    if (nats) {
        Session *live = session.get();
        fs.invalidateEntry = [live](fuse_ino_t parent, const std::string &name) {
            live->invalidateEntry(parent, name);
        };
        std::shared_ptr<TreeReplica> replica;
        // The outbox of changes not yet in the bucket survives a restart in
        // SOURCE/state/tree-outbox.log; without a state directory it is in
        // memory only.
        if (openNatsTreeReplica(nats, fs.state ? fs.state->dir() : std::string(), &replica,
                                &err) < 0) {
            spdlog::error("shared tree: {}; NATS-backed directories stay on this mount", err);
        } else {
            fs.tree = std::make_shared<SharedTree>(fs, std::move(replica), mountOrigin());
            fs.tree->start();
        }
    }
    if (!opts.foreground) {
        detach.mounted();
        spdlog::drop_all();
        setupLogging(opts.logLevel, true, opts.logJson);
    }
    spdlog::info("chanfs {} mounted at {} ({} thread{})", CHANFS_VERSION, opts.mountpoint,
                 opts.threads, opts.threads == 1 ? "" : "s");
    if (metrics) spdlog::info("metrics at {}/metrics", metrics->address());
    // READY=1 comes from its thread once the loop below answers.
    std::unique_ptr<ServiceNotifier> notifier = ServiceNotifier::start(opts.mountpoint);
    const int rc = session->run(opts.threads);
    if (notifier) notifier->stopping();
    flushSuppressedLogLines();
    spdlog::info("chanfs at {} unmounting", opts.mountpoint);
    metrics.reset();  // its thread reads the tree closeAll() empties
    if (fs.tree) fs.tree->stop();  // no remote change is applied from here on
    fs.closeAll();
    session.reset();
    notifier.reset();  // a probe still in the kernel returned with the session
    setNatsLink(nullptr);
    if (nats) nats->close();  // bounded, also with the cluster down
    // libfuse reports the signal that ended the loop as a positive number:
    // SIGINT/SIGTERM/SIGHUP are a clean stop.
    return rc >= 0 ? 0 : 1;
}
