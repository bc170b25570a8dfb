#include "fs/fuse/session.h"

#include <spdlog/spdlog.h>

#include <vector>

#include "fs/fuse/ops.h"
#include "fs/fuse/stream_io.h"

namespace chanfs::fs {

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
    if (fuse_session_mount(se, opts.mountpoint.c_str()) != 0) {
        *err = "cannot mount at " + opts.mountpoint;
        return nullptr;
    }
    s->mounted_ = true;
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
