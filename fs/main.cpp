// chanfs: mounts a directory of IPC channels.
#include <spdlog/spdlog.h>

#include <cstdio>

#include "filesystem.h"
#include "log.h"
#include "options.h"
#include "session.h"

using namespace chanfs::fs;

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
    setupLogging(opts.logLevel, false);
    for (const std::string &o : opts.ignoredOptions)
        spdlog::debug("-o {}: an fstab/mount(8) option, ignored", o);

    Filesystem fs(opts);
    std::unique_ptr<Session> session = Session::start(opts, fs, &err);
    if (!session) {
        spdlog::error("{}", err);
        return 1;
    }
    if (!opts.foreground) {
        if (fuse_daemonize(0) != 0) {
            spdlog::error("cannot daemonize");
            return 1;
        }
        spdlog::drop_all();
        setupLogging(opts.logLevel, true);
    }
    spdlog::info("chanfs {} mounted at {} ({} thread{})", CHANFS_VERSION, opts.mountpoint,
                 opts.threads, opts.threads == 1 ? "" : "s");
    const int rc = session->run(opts.threads);
    spdlog::info("chanfs at {} unmounting", opts.mountpoint);
    fs.closeAll();
    session.reset();
    // libfuse reports the signal that ended the loop as a positive number:
    // SIGINT/SIGTERM/SIGHUP are a clean stop.
    return rc >= 0 ? 0 : 1;
}
