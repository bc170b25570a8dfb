// One mounted FUSE session, owned RAII-style: created and mounted by
// Session::start(), unmounted and destroyed by the destructor, whatever
// path leaves main(). SIGINT/SIGTERM/SIGHUP end the loop.
#pragma once

#include <memory>
#include <string>

#include "fs/base/fuse_api.h"
#include "fs/base/options.h"
#include "fs/tree/filesystem.h"

namespace chanfs::fs {

// Whether chanfs may mount at opts.mountpoint: 0, or -EBUSY with `why`
// when a FUSE mount is there already, live (mounting would hide it) or dead
// (its daemon gone: ENOTCONN). With -o force_mount a dead one is unmounted
// (fusermount3 -u -z) and a live one mounted over, each with a warning.
int checkMountpoint(const Options &opts, std::string *why);

class Session {
public:
    // Mounts; nullptr with *err set on failure.
    static std::unique_ptr<Session> start(const Options &opts, Filesystem &fs, std::string *err);
    ~Session();
    Session(const Session &) = delete;
    Session &operator=(const Session &) = delete;

    // Runs the request loop until unmount or a signal. 0 on a clean end.
    int run(unsigned threads);
    // Tells the kernel to forget its cached entry `name` in `parent` (a
    // name another mount removed or renamed). Not from a request handler;
    // without the table lock. 0 or -errno (-ENOENT: nothing cached).
    int invalidateEntry(fuse_ino_t parent, const std::string &name);

    explicit Session(fuse_session *se) : se_(se) {}

private:
    fuse_session *se_;
    bool signalsSet_ = false;
    bool mounted_ = false;
};

}  // namespace chanfs::fs
