#include "fs/fuse/session.h"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <vector>

#include "fs/fuse/mount_socket.h"
#include "fs/fuse/ops.h"
#include "fs/fuse/stream_io.h"

namespace chanfs::fs {

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescapeMountinfo(const std::string &s)
{
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size()) {
            const int v = (s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0');
            out += static_cast<char>(v);
            i += 3;
        } else {
            out += s[i];
        }
    }
    return out;
}

// The file system type of the topmost mount at `path` ("" if none).
std::string mountTypeAt(const std::string &path)
{
    std::ifstream in("/proc/self/mountinfo");
    std::string line, type;
    while (std::getline(in, line)) {
        // id parent major:minor root mountpoint options [optional...] - type source super
        std::istringstream fields(line);
        std::string id, parent, dev, root, point, f;
        fields >> id >> parent >> dev >> root >> point;
        while (fields >> f && f != "-") {}
        std::string t;
        fields >> t;
        if (unescapeMountinfo(point) == path) type = t;  // later lines are on top
    }
    return type;
}

bool isFuseType(const std::string &type)
{
    return type == "fuse" || type == "fuseblk" || type.rfind("fuse.", 0) == 0;
}

// fusermount3 -u -z PATH: works for root and for the user who mounted it.
int lazyUnmount(const std::string &path)
{
    const char *argv[] = {"fusermount3", "-u", "-z", path.c_str(), nullptr};
    pid_t pid = 0;
    if (posix_spawnp(&pid, "fusermount3", nullptr, nullptr, const_cast<char **>(argv), environ) !=
        0)
        return -errno;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -errno;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

}  // namespace

int checkMountpoint(const Options &opts, std::string *why)
{
    const std::string type = mountTypeAt(opts.mountpoint);
    if (!isFuseType(type)) return 0;
    // statfs, not stat: the kernel answers stat from its attribute cache
    // for a while after the daemon died, statfs always asks the daemon.
    struct statfs sf {};
    const bool dead = ::statfs(opts.mountpoint.c_str(), &sf) < 0 && errno == ENOTCONN;
    if (!opts.forceMount) {
        *why = "mountpoint " + opts.mountpoint + " is already a FUSE mount (" + type + ")" +
               (dead ? " whose daemon is gone (Transport endpoint is not connected)"
                     : ", still served") +
               "; unmount it first (fusermount3 -u " + opts.mountpoint +
               ") or pass -o force_mount to " + (dead ? "replace it" : "mount over it");
        return -EBUSY;
    }
    if (!dead) {
        spdlog::warn("mountpoint {}: mounting over the live {} mount there (-o force_mount)",
                     opts.mountpoint, type);
        return 0;
    }
    if (int rc = lazyUnmount(opts.mountpoint); rc < 0) {
        *why = "mountpoint " + opts.mountpoint + ": cannot unmount the dead " + type +
               " mount there (fusermount3 -u -z failed)";
        return -EBUSY;
    }
    spdlog::warn("mountpoint {}: the dead {} mount there was unmounted (-o force_mount)",
                 opts.mountpoint, type);
    return 0;
}

std::unique_ptr<Session> Session::start(const Options &opts, Filesystem &fs, std::string *err)
{
    std::vector<std::string> args{"chanfs"};
    std::string fuseOpts =
        "fsname=" + (opts.source.empty() ? std::string("chanfs") : opts.source) + ",subtype=chanfs";
    if (opts.defaultPermissions) fuseOpts += ",default_permissions";
    for (const std::string &o : opts.fuseOptions) fuseOpts += "," + o;
    args.push_back("-o");
    args.push_back(fuseOpts);
    if (opts.debug) args.push_back("-d");
    std::vector<char *> argv;
    for (std::string &a : args) argv.push_back(a.data());
    fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());

    const fuse_lowlevel_ops &ops = operations();
    fuse_session *se = fuse_session_new(&fargs, &ops, sizeof ops, &fs);
    fuse_opt_free_args(&fargs);
    if (!se) {
        *err = "cannot start a FUSE session (bad -o option?): " + fuseOpts;
        return nullptr;
    }
    auto s = std::make_unique<Session>(se);
    if (fuse_set_signal_handlers(se) != 0) {
        *err = "cannot install signal handlers";
        return nullptr;
    }
    s->signalsSet_ = true;
    // A number below the one /dev/fuse will get, for fusermount3's socket
    // (fs/fuse/mount_socket.h: why -o auto_unmount needs it there).
    const std::vector<int> before = openFds();
    UniqueFd reserve(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (fuse_session_mount(se, opts.mountpoint.c_str()) != 0) {
        *err = "cannot mount at " + opts.mountpoint;
        return nullptr;
    }
    s->mounted_ = true;
    if (int rc = lowerMountSocket(before, fuse_session_fd(se), std::move(reserve)); rc < 0)
        spdlog::warn(
            "mount {}: cannot move fusermount3's auto_unmount socket below /dev/fuse ({}); "
            "if the daemon is killed the mount may stay (fusermount3 -u -z removes it)",
            opts.mountpoint, strerror(-rc));
    if (int rc = installStreamIo(
            se, [&fs](uint64_t fh) { fs.releaseEarly(fh); }, opts.threads, opts.pollUs);
        rc != 0) {
        *err = "cannot install the stream-io hook: " + std::string(strerror(-rc));
        return nullptr;
    }
    return s;
}

Session::~Session()
{
    if (signalsSet_) fuse_remove_signal_handlers(se_);
    if (mounted_) fuse_session_unmount(se_);
    fuse_session_destroy(se_);
}

int Session::invalidateEntry(fuse_ino_t parent, const std::string &name)
{
    return fuse_lowlevel_notify_inval_entry(se_, parent, name.c_str(), name.size());
}

int Session::run(unsigned threads)
{
    int rc;
    if (threads <= 1) {
        rc = fuse_session_loop(se_);
    } else {
        // Measured with tools/bench on 2 cores: one thread costs ~20% less
        // daemon CPU per message than two, which beat libfuse's default of
        // 10; waiting requests never hold a thread either way.
        fuse_loop_config *cfg = fuse_loop_cfg_create();
        fuse_loop_cfg_set_max_threads(cfg, threads);
        fuse_loop_cfg_set_idle_threads(cfg, threads);
        rc = fuse_session_loop_mt(se_, cfg);
        fuse_loop_cfg_destroy(cfg);
    }
    return rc;
}

}  // namespace chanfs::fs
