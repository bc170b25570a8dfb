// Small whole-file helpers for the state directory (journal.cpp, and fs/'s
// state store): read a file, write a buffer out in full, make a directory
// entry durable. Return 0 or -errno; thread-compatible.
#pragma once

#include <string>
#include <string_view>

namespace chanfs {

// Reads all of `path` into `out` (replacing it).
int readWholeFile(const std::string &path, std::string *out);
// Writes all of `data` to `fd`, retrying short writes and EINTR.
int writeFully(int fd, std::string_view data);
// fsync of directory `dir`, so a file created, renamed or deleted in it
// stays so after a crash. Best effort: failures are ignored.
void syncDirectory(const std::string &dir);

}  // namespace chanfs
