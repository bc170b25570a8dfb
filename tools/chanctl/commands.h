// The subcommands. Each returns chanctl's exit status (0 or 1) after
// reporting its own failures on stderr; usage errors are caught earlier.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "settings.h"

namespace chanctl {

struct CreateOptions {
    std::vector<std::string> paths;
    SettingsRequest settings;
    std::optional<mode_t> mode;  // exact permission bits; umask ignored
    bool exist_ok = false;
};

int run_create(const CreateOptions& options);
int run_set(const std::string& path, const SettingsRequest& settings);
int run_stat(const std::vector<std::string>& paths, bool json);
int run_ls(const std::string& dir, bool json, bool recursive);

}  // namespace chanctl
