// Makes the tree a checked config file declares, before the mount exists,
// through the same steps as mkdir, create and setxattr (node_ops.h).
#pragma once

#include <string>

#include "fs/config/config.h"
#include "fs/tree/filesystem.h"

namespace chanfs::fs {

// Applies `cfg` to an empty tree: the root's mode, owner and defaults,
// then directories (missing parents made with mode 0755), channels and
// last their bridges. 0, or -errno with `err` as "FILE:LINE: what failed";
// the caller must then not mount (Filesystem::closeAll() removes the
// bridges already made).
int applyConfig(Filesystem &fs, const Config &cfg, std::string *err);

}  // namespace chanfs::fs
