// The subcommands. Each returns chanctl's exit status (0 or 1) after
// reporting its own failures on stderr; usage errors are caught earlier.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "tools/chanctl/settings.h"

namespace chanctl {

struct CreateOptions {
    std::vector<std::string> paths;
    SettingsRequest settings;
    std::optional<mode_t> mode;  // exact permission bits; umask ignored
    bool exist_ok = false;
};

int run_create(const CreateOptions &options);
int run_set(const std::string &path, const SettingsRequest &settings);
int run_stat(const std::vector<std::string> &paths, bool json);
int run_ls(const std::string &dir, bool json, bool recursive);
// Writes the tree under `dir` (a mount root) as a chanfs config file to
// `output` ("" or "-": stdout).
int run_export(const std::string &dir, const std::string &output);

struct TopOptions {
    std::string dir;
    unsigned iterations = 0;  // tables to print; 0: until Ctrl-C
    double interval_s = 1.0;  // between samples
    bool json = false;
};

// A table of the channels under `dir` (recursively) with message rates,
// refreshed every interval. Ctrl-C (SIGINT) or SIGTERM end it with 0.
int run_top(const TopOptions &options);

}  // namespace chanctl
