#include "fs/base/options.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "fs/base/log.h"

namespace chanfs::fs {

namespace {

std::vector<std::string> splitCommas(const std::string &s)
{
    std::vector<std::string> out;
    std::string cur;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) {
            cur += s[++i];
        } else if (s[i] == ',') {
            out.push_back(cur);
            cur.clear();
        } else {
            cur += s[i];
        }
    }
    out.push_back(cur);
    return out;
}

// The setting whose mount-wide default `-o key=` sets (names.h), or null.
const SettingName *mountOptionSetting(std::string_view key)
{
    for (const SettingName &s : kSettings)
        if (!s.mountOption.empty() && s.mountOption == key) return &s;
    return nullptr;
}

// Options that belong to mount(8) and fstab, not to the filesystem. mount
// strips most of them before it runs mount.fuse3, but not every caller does
// (mount.fuse3 run by hand, options copied from an fstab line into a unit),
// and libfuse refuses what it does not know.
bool isMountTableOption(const std::string &key)
{
    static const char *const kKeys[] = {"defaults", "auto",   "noauto", "_netdev", "nofail", "user",
                                        "users",    "nouser", "owner",  "group",   "comment"};
    for (const char *k : kKeys)
        if (key == k) return true;
    return key.compare(0, 2, "x-") == 0;  // x-systemd.*, x-gvfs-* and the like
}

// realpath() of a dead mount fails (stat gives ENOTCONN): its parent's
// real path and its own name.
std::string absoluteOfDeadMount(std::string path)
{
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    const size_t slash = path.rfind('/');
    const std::string parent = slash == std::string::npos ? "." : path.substr(0, slash ? slash : 1);
    const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    char *abs = realpath(parent.c_str(), nullptr);
    if (!abs) return path;
    std::string out = abs;
    free(abs);
    return (out == "/" ? "" : out) + "/" + name;
}

int takeOption(const std::string &opt, Options *o, std::string *err)
{
    const auto eq = opt.find('=');
    const std::string key = opt.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : opt.substr(eq + 1);
    auto bad = [&](const std::string &why) {
        *err = "invalid option -o " + opt + ": " + why;
        return -EINVAL;
    };
    if (key == "log_level") {
        if (!validLogLevel(value)) return bad("expected trace, debug, info, warn, error or off");
        o->logLevel = value;
    } else if (key == "log_format") {
        if (value != "text" && value != "json") return bad("expected text or json");
        o->logJson = value == "json";
    } else if (const SettingName *setting = mountOptionSetting(key)) {
        std::string why;
        if (applySetting(&o->defaults, setting->name, value, &why) < 0) return bad(why);
    } else if (key == "max_memory") {
        uint64_t v = 0;
        if (parseSize(value, &v) < 0) return bad("expected a byte count such as 512M or 2G");
        if (v < kMinMaxMemoryBytes) return bad("at least 1M (one write request)");
        o->maxMemoryBytes = v;
    } else if (key == "max_channels") {
        uint64_t n = 0;
        if (parseCount(value, &n) < 0 || n < 1) return bad("expected a count of 1 or more");
        o->maxChannels = n;
    } else if (key == "metrics") {
        if (value.empty()) return bad("expected ADDR:PORT or unix:/path");
        if (value.rfind("unix:", 0) == 0 && (value.size() < 6 || value[5] != '/'))
            return bad("expected unix:/absolute/path");
        o->metricsAddress = value;
    } else if (key == "metrics_bind_any") {
        o->metricsBindAny = true;
    } else if (key == "metrics_max_channels") {
        uint64_t n = 0;
        if (parseCount(value, &n) < 0) return bad("expected a count");
        o->metricsMaxChannels = n;
    } else if (key == "threads") {
        uint64_t n = 0;
        if (parseCount(value, &n) < 0 || n < 1 || n > 64) return bad("expected 1 to 64");
        o->threads = static_cast<unsigned>(n);
    } else if (key == "poll_us") {
        uint64_t n = 0;
        if (parseCount(value, &n) < 0 || n > kMaxPollUs)
            return bad("expected microseconds from 0 to " + std::to_string(kMaxPollUs));
        o->pollUs = static_cast<unsigned>(n);
    } else if (key == "bridge_root") {
        char resolved[PATH_MAX];
        if (value.empty() || value[0] != '/') return bad("expected an absolute directory");
        if (!::realpath(value.c_str(), resolved))
            return bad(std::string("cannot resolve: ") + std::strerror(errno));
        struct stat st {};
        if (::stat(resolved, &st) < 0 || !S_ISDIR(st.st_mode)) return bad("not a directory");
        o->bridgeRoot = resolved;
    } else if (key == "config") {
        if (value.empty()) return bad("expected a file");
        char *abs = ::realpath(value.c_str(), nullptr);
        // A missing file is reported when it is read, with its name.
        o->configFile = abs ? abs : value;
        free(abs);
    } else if (key == "nats") {
        // Repeated, one server each: -o splits on commas, so a list in one
        // value would be cut apart anyway (fstab lines repeat nats= too).
        if (std::string why = checkNatsUrl(value); !why.empty()) return bad(why);
        o->nats.servers.push_back(value);
        o->nats.given |= kNatsServers;
    } else if (key == "nats_creds" || key == "nats_ca" || key == "nats_cert" ||
               key == "nats_key") {
        // Paths only: the secrets stay in their files (the link reads them).
        if (value.empty() || value[0] != '/') return bad("expected an absolute file path");
        std::string &field = key == "nats_creds" ? o->nats.credsFile
                             : key == "nats_ca"  ? o->nats.caFile
                             : key == "nats_cert" ? o->nats.certFile
                                                  : o->nats.keyFile;
        field = value;
        o->nats.given |= key == "nats_creds" ? kNatsCreds
                         : key == "nats_ca"  ? kNatsCa
                         : key == "nats_cert" ? kNatsCert
                                              : kNatsKey;
    } else if (key == "nats_prefix") {
        if (std::string why = checkNatsPrefix(value); !why.empty()) return bad(why);
        o->nats.prefix = value;
        o->nats.given |= kNatsPrefix;
    } else if (key == "nats_ack_wait") {
        uint64_t n = 0;
        if (parseCount(value, &n) < 0 || n < 1 || n > 3600)
            return bad("expected seconds from 1 to 3600");
        o->nats.ackWaitSeconds = static_cast<unsigned>(n);
        o->nats.given |= kNatsAckWait;
    } else if (key == "force_mount") {
        o->forceMount = true;
    } else if (key == "default_permissions") {
        o->defaultPermissions = true;
    } else if (key == "nodefault_permissions" || key == "no_default_permissions") {
        o->defaultPermissions = false;
    } else if (isMountTableOption(key)) {
        o->ignoredOptions.push_back(opt);
    } else if (!opt.empty()) {
        o->fuseOptions.push_back(opt);
    }
    return 0;
}

}  // namespace

uint64_t defaultMaxMemory()
{
    const long pages = ::sysconf(_SC_PHYS_PAGES);
    const long pageSize = ::sysconf(_SC_PAGESIZE);
    if (pages <= 0 || pageSize <= 0) return kGiB;
    return static_cast<uint64_t>(pages) * static_cast<uint64_t>(pageSize) / 4;
}

std::string usage(const char *prog)
{
    std::ostringstream s;
    s << "usage: " << prog << " [SOURCE] MOUNTPOINT [-o opt[,opt...]] [-f] [-d]\n"
      << "\n"
      << "Mounts a directory of IPC channels at MOUNTPOINT. SOURCE is an optional\n"
      << "state directory (or a label such as the first field of an fstab line).\n"
      << "\n"
      << "options:\n"
      << "  -f                     stay in the foreground, log to stderr\n"
      << "  -d                     foreground with libfuse request tracing\n"
      << "  -h, --help             this help\n"
      << "  -V, --version          print the version\n"
      << "  -o log_level=LEVEL     trace, debug, info (default), warn, error, off\n"
      << "  -o log_format=FORMAT   text (default) or json (one object per line)\n";
    // The settings whose mount-wide default an -o option sets.
    for (const SettingName &setting : kSettings)
        if (!setting.mountOption.empty())
            s << optionHelp(
                "-o " + std::string(setting.mountOption) + "=" + std::string(setting.metavar),
                setting.help, 25);
    s << "  -o max_memory=SIZE     bytes all channels may buffer together (default:\n"
      << "                         a quarter of RAM); past it writes wait or fail\n"
      << "                         as each channel's overflow policy says\n"
      << "  -o max_channels=N      channels and directories in the mount (default\n"
      << "                         1000000); one more is refused with ENOSPC\n"
      << "  -o threads=N           request threads (default 1)\n"
      << "  -o metrics=ADDR:PORT   serve Prometheus metrics at http://ADDR:PORT/metrics\n"
      << "                         (loopback only unless -o metrics_bind_any);\n"
      << "                         -o metrics=unix:/path serves them on a socket\n"
      << "  -o metrics_max_channels=N  per-channel series for at most N channels\n"
      << "                         (default 1000)\n"
      << "  -o poll_us=N           after a request, look for the next one for up to\n"
      << "                         N microseconds before sleeping (default " << kDefaultPollUs
      << "; 0: off);\n"
      << "                         adaptive: an idle daemon does not spin\n"
      << "  -o bridge_root=DIR     FIFO and socket bridge paths must be inside DIR\n"
      << "  -o config=FILE         create the tree FILE declares (default:\n"
      << "                         SOURCE/chanfs.toml if it exists)\n"
      << "  -o nats=URL            a NATS JetStream server (nats://HOST:PORT or\n"
      << "                         tls://...); repeat for each server of the cluster.\n"
      << "                         Needed by channels with backend=nats\n"
      << "  -o nats_creds=FILE     NATS credentials file (also nats_ca=, nats_cert=,\n"
      << "                         nats_key=: TLS files); secrets only from files\n"
      << "  -o nats_prefix=NAME    names of the streams and subjects (default chanfs)\n"
      << "  -o nats_ack_wait=SECS  queue: a message a host took but did not acknowledge\n"
      << "                         goes to another host after SECS (default 30)\n"
      << "  -o force_mount         mount even where a FUSE mount is: a dead one\n"
      << "                         (its daemon gone) is unmounted first, a live one\n"
      << "                         is mounted over\n"
      << "  -o allow_other         let other users use the mount\n"
      << "  -o default_permissions kernel checks modes (on by default;\n"
      << "                         -o nodefault_permissions turns it off)\n"
      << "  other -o options go to libfuse (e.g. auto_unmount, fsname=, ro)\n"
      << "  fstab-only options (defaults, auto, noauto, _netdev, nofail, user, users,\n"
      << "  nouser, owner, group, comment=, x-*) are accepted and ignored\n"
      << "\n"
      << "exit status: 0 after a clean unmount (umount, SIGINT, SIGTERM, SIGHUP),\n"
      << "1 if mounting or running failed, 2 on a bad command line or config file\n";
    return s.str();
}

int parseOptions(int argc, char **argv, Options *o, std::string *err)
{
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-h" || a == "--help") {
            o->help = true;
        } else if (a == "-V" || a == "--version") {
            o->version = true;
        } else if (a == "-f") {
            o->foreground = true;
        } else if (a == "-d" || a == "--debug") {
            o->debug = o->foreground = true;
            o->logLevel = "debug";
        } else if (a == "-s") {
            o->threads = 1;
        } else if (a == "-o" || (a.size() > 2 && a.compare(0, 2, "-o") == 0)) {
            std::string list;
            if (a == "-o") {
                if (i + 1 >= argc) {
                    *err = "option -o needs a value";
                    return -EINVAL;
                }
                list = argv[++i];
            } else {
                list = a.substr(2);
            }
            for (const std::string &opt : splitCommas(list))
                if (int rc = takeOption(opt, o, err); rc < 0) return rc;
        } else if (!a.empty() && a[0] == '-') {
            *err = "unknown option " + a;
            return -EINVAL;
        } else {
            positional.push_back(a);
        }
    }
    if (o->help || o->version) return 0;
    if (positional.empty()) {
        *err = "missing MOUNTPOINT";
        return -EINVAL;
    }
    if (positional.size() > 2) {
        *err = "too many arguments: expected [SOURCE] MOUNTPOINT";
        return -EINVAL;
    }
    o->mountpoint = positional.back();
    if (positional.size() == 2) o->source = positional.front();
    struct stat st {};
    if (stat(o->mountpoint.c_str(), &st) != 0) {
        if (errno == ENOTCONN) {
            // A FUSE mount whose daemon died: main() says so (checkMountpoint).
            o->mountpoint = absoluteOfDeadMount(o->mountpoint);
            return 0;
        }
        *err = "mountpoint " + o->mountpoint + ": " + std::strerror(errno);
        return -EINVAL;
    }
    if (!S_ISDIR(st.st_mode)) {
        *err = "mountpoint " + o->mountpoint + ": Not a directory";
        return -EINVAL;
    }
    // The daemon changes to / when it detaches; unmounting at exit needs
    // the absolute path.
    if (char *abs = realpath(o->mountpoint.c_str(), nullptr)) {
        o->mountpoint = abs;
        free(abs);
    }
    if (!o->source.empty() && o->source.find('/') != std::string::npos) {
        if (stat(o->source.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
            *err = "state directory " + o->source + ": " +
                   (errno ? std::strerror(errno) : "Not a directory");
            return -EINVAL;
        }
    }
    return 0;
}

}  // namespace chanfs::fs
