#include "tools/chanctl/xattr_client.h"

#include <sys/xattr.h>

#include <cerrno>

namespace chanctl::xattr {

namespace {

// The size of an attribute can change between the size query and the read
// (stats are live), so both calls below retry on ERANGE; the bound only
// guards against a file system that keeps answering ERANGE.
constexpr int kMaxAttempts = 8;

}  // namespace

int get(const std::string &path, const std::string &name, std::string &value)
{
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
        ssize_t size = ::getxattr(path.c_str(), name.c_str(), nullptr, 0);
        if (size < 0) return -errno;
        // One spare byte lets us notice a value that grew to exactly fill
        // the buffer without having to trust the first size.
        std::string buf(static_cast<size_t>(size) + 1, '\0');
        ssize_t got = ::getxattr(path.c_str(), name.c_str(), buf.data(), buf.size());
        if (got < 0) {
            if (errno == ERANGE) continue;
            return -errno;
        }
        buf.resize(static_cast<size_t>(got));
        value = std::move(buf);
        return 0;
    }
    return -ERANGE;
}

int set(const std::string &path, const std::string &name, std::string_view value)
{
    if (::setxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0) < 0) return -errno;
    return 0;
}

int list(const std::string &path, std::vector<std::string> &names)
{
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
        ssize_t size = ::listxattr(path.c_str(), nullptr, 0);
        if (size < 0) return -errno;
        std::string buf(static_cast<size_t>(size) + 1, '\0');
        ssize_t got = ::listxattr(path.c_str(), buf.data(), buf.size());
        if (got < 0) {
            if (errno == ERANGE) continue;
            return -errno;
        }
        names.clear();
        // The list is a sequence of NUL-terminated names.
        size_t pos = 0;
        const auto end = static_cast<size_t>(got);
        while (pos < end) {
            size_t nul = buf.find('\0', pos);
            if (nul == std::string::npos || nul > end) nul = end;
            if (nul > pos) names.emplace_back(buf, pos, nul - pos);
            pos = nul + 1;
        }
        return 0;
    }
    return -ERANGE;
}

}  // namespace chanctl::xattr
