#include "tools/chanctl/health.h"

#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "tools/chanctl/json.h"
#include "tools/chanctl/xattr_client.h"

namespace chanctl {
namespace {

struct MountEntry {
    bool found = false;
    std::string fstype;
};

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_mountinfo(const std::string &s)
{
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size()) {
            const std::string oct = s.substr(i + 1, 3);
            if (oct.size() == 3 && oct.find_first_not_of("01234567") == std::string::npos) {
                out += static_cast<char>(std::stoi(oct, nullptr, 8));
                i += 3;
                continue;
            }
        }
        out += s[i];
    }
    return out;
}

// The last mount at `path` in /proc/self/mountinfo (the one on top).
MountEntry find_mount(const std::string &path)
{
    MountEntry entry;
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string id, parent, dev, root, point, word;
        fields >> id >> parent >> dev >> root >> point;
        if (unescape_mountinfo(point) != path) continue;
        while (fields >> word && word != "-") {}
        std::string fstype;
        fields >> fstype;
        entry.found = true;
        entry.fstype = fstype;
    }
    return entry;
}

// MOUNT as mountinfo shows it. The last component is not resolved: on a
// stale mount, looking at it fails with ENOTCONN.
std::string canonical_mount(const std::string &mount)
{
    std::filesystem::path p = std::filesystem::absolute(mount).lexically_normal();
    if (p.has_relative_path() && p.filename().empty()) p = p.parent_path();
    if (p == p.root_path()) return p.string();
    std::error_code ec;
    const auto parent = std::filesystem::canonical(p.parent_path(), ec);
    if (ec) return p.string();
    return (parent / p.filename()).string();
}

struct Probe {
    std::mutex mu;
    std::condition_variable done_cv;
    bool done = false;
    int err = 0;
    std::string entries, memory, max_memory;
};

struct Report {
    int status = kHealthOk;
    std::string state;  // ok, error, not_chanfs, stale, no_answer
    std::string message;
};

void print(const HealthOptions &o, const Report &r, const Probe *answered)
{
    if (o.json) {
        json::Writer w(std::cout);
        w.begin_object();
        w.key("mount");
        w.string(o.mount);
        w.key("state");
        w.string(r.state);
        w.key("exit_status");
        w.integer(std::to_string(r.status));
        w.key("message");
        w.string(r.message);
        if (answered) {
            w.key("entries");
            w.number_or_string(answered->entries);
            w.key("memory_bytes");
            w.number_or_string(answered->memory);
            w.key("max_memory");
            w.number_or_string(answered->max_memory);
        }
        w.end_object();
        w.finish();
    } else if (r.status == kHealthOk) {
        std::cout << r.message << '\n';
    } else {
        std::cerr << "chanctl: " << r.message << '\n';
    }
}

}  // namespace

int run_health(const HealthOptions &o)
{
    const std::string point = canonical_mount(o.mount);
    const MountEntry m = find_mount(point);
    Report r;
    if (!m.found || m.fstype != "fuse.chanfs") {
        // Say why: a missing directory is an error of its own.
        std::error_code ec;
        if (!m.found && !std::filesystem::exists(o.mount, ec) && !ec) {
            r = {kHealthError, "error", o.mount + ": no such file or directory"};
        } else {
            r = {kHealthNotChanfs, "not_chanfs",
                 o.mount + ": not a chanfs mount" +
                     (m.found ? " (a " + m.fstype + " mount)"
                              : std::string(" (not a mount point)"))};
        }
        print(o, r, nullptr);
        return r.status;
    }
    // One round trip through the daemon: the root's stats are never cached
    // by the kernel. On its own thread, so a daemon that never answers
    // cannot keep us past the timeout.
    auto probe = std::make_shared<Probe>();
    std::thread([probe, mount = o.mount] {
        std::string entries, memory, max_memory;
        int rc = xattr::get(mount, "user.chanfs.stats.entries", entries);
        if (rc == 0) rc = xattr::get(mount, "user.chanfs.stats.memory_bytes", memory);
        if (rc == 0) rc = xattr::get(mount, "user.chanfs.stats.max_memory", max_memory);
        std::lock_guard g(probe->mu);
        probe->err = -rc;
        probe->entries = entries;
        probe->memory = memory;
        probe->max_memory = max_memory;
        probe->done = true;
        probe->done_cv.notify_all();
    }).detach();
    std::unique_lock lock(probe->mu);
    const bool answered = probe->done_cv.wait_for(lock, std::chrono::duration<double>(o.timeout_s),
                                                  [&] { return probe->done; });
    if (!answered) {
        std::ostringstream t;
        t << o.timeout_s;
        r = {kHealthNoAnswer, "no_answer",
             o.mount + ": the chanfs daemon did not answer within " + t.str() + " s"};
    } else if (probe->err == ENOTCONN) {
        r = {kHealthStale, "stale",
             o.mount +
                 ": stale mount: the chanfs daemon is gone (ENOTCONN); unmount it with "
                 "fusermount3 -u -z " +
                 o.mount};
    } else if (probe->err != 0) {
        r = {kHealthError, "error", o.mount + ": " + std::strerror(probe->err)};
    } else {
        r = {kHealthOk, "ok",
             o.mount + ": chanfs answers (" + probe->entries + " entries, " + probe->memory +
                 " of " + probe->max_memory + " bytes of memory)"};
    }
    print(o, r, answered && probe->err == 0 ? probe.get() : nullptr);
    if (!answered) {
        // The probe thread is still in the kernel: leave without waiting
        // for it (destructors of statics could wait on nothing useful).
        std::cout.flush();
        std::_Exit(r.status);
    }
    return r.status;
}

}  // namespace chanctl
