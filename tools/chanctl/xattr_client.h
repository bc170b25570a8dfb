// Thin wrappers over the xattr system calls. They return 0 (or a count) on
// success and -errno on failure so callers can decide per error what it
// means: ENODATA is "not set" on a directory, not a failure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace chanctl::xattr {

// Reads the value of `name` into `value`. Returns 0 or -errno.
int get(const std::string &path, const std::string &name, std::string &value);

// Sets `name` to `value` (creating or replacing it). Returns 0 or -errno.
int set(const std::string &path, const std::string &name, std::string_view value);

// Lists every attribute name of `path` into `names`. Returns 0 or -errno.
int list(const std::string &path, std::vector<std::string> &names);

}  // namespace chanctl::xattr
