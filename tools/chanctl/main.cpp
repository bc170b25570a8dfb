// chanctl: the command-line tool over a chanfs mount's user.chanfs.*
// extended attributes. Everything it does can be done with touch, setfattr
// and getfattr; chanctl adds the right order, readable errors and JSON.

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <iostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tools/chanctl/cli.h"
#include "tools/chanctl/commands.h"
#include "tools/chanctl/settings.h"

#ifndef CHANFS_VERSION
#error "CHANFS_VERSION must be defined by the build (meson defines it project-wide)"
#endif

namespace chanctl {
namespace {

struct Command {
    std::string_view name;
    std::string_view usage;  // without the leading "usage: "
    std::string_view summary;
    std::string_view details;  // printed after the usage line by `help`
    bool has_settings;         // takes the --kind... options
    std::vector<OptionSpec> options;
    std::function<int(const ParsedArgs &)> run;
};

// The options of create and set that name a setting or an endpoint (names.h).
const std::vector<OptionSpec> kSettingOptions = [] {
    std::vector<OptionSpec> specs;
    for (const SettingOption &o : setting_options()) specs.push_back({o.name, '\0', o.takes_value});
    return specs;
}();

// A bridge path as the daemon needs it: absolute (relative to our cwd).
std::string absolute_path(const std::string &path)
{
    if (path.starts_with('/')) return path;
    std::error_code ec;
    const auto cwd = std::filesystem::current_path(ec);
    if (ec) throw UsageError("cannot resolve '" + path + "': " + ec.message());
    return (cwd / path).lexically_normal().string();
}

void collect_settings(const ParsedArgs &args, SettingsRequest &settings)
{
    for (const auto &[name, value] : args.options) {
        for (const SettingOption &o : setting_options()) {
            if (o.name != name) continue;
            if (o.is_endpoint)
                settings.put(o.key, o.value_prefix + absolute_path(value));
            else
                settings.put(o.key, o.takes_value ? value : "1");  // --durable means durable=1
        }
    }
}

mode_t parse_mode(const std::string &text)
{
    unsigned value = 0;
    const char *end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value, 8);
    if (ec != std::errc() || ptr != end || value > 07777) {
        throw UsageError("invalid mode '" + text + "' (expected octal, e.g. 0660)");
    }
    return static_cast<mode_t>(value);
}

int create_main(const ParsedArgs &args)
{
    CreateOptions options;
    options.paths = args.operands;
    if (options.paths.empty()) throw UsageError("missing PATH");
    collect_settings(args, options.settings);
    for (const auto &[name, value] : args.options) {
        if (name == "mode") options.mode = parse_mode(value);
    }
    options.exist_ok = args.has("exist-ok");
    return run_create(options);
}

int set_main(const ParsedArgs &args)
{
    if (args.operands.empty()) throw UsageError("missing PATH");
    SettingsRequest settings;
    // Options first, then KEY=VALUE operands, so an operand wins a tie.
    collect_settings(args, settings);
    for (size_t i = 1; i < args.operands.size(); ++i) {
        Setting s = parse_assignment(args.operands[i]);
        settings.put(std::move(s.key), std::move(s.value));
    }
    if (settings.empty()) throw UsageError("no setting given");
    return run_set(args.operands[0], settings);
}

int stat_main(const ParsedArgs &args)
{
    if (args.operands.empty()) throw UsageError("missing PATH");
    return run_stat(args.operands, args.has("json"));
}

int ls_main(const ParsedArgs &args)
{
    if (args.operands.size() > 1) throw UsageError("ls takes at most one DIR");
    const std::string dir = args.operands.empty() ? "." : args.operands[0];
    return run_ls(dir, args.has("json"), args.has("recursive"));
}

int export_main(const ParsedArgs &args)
{
    if (args.operands.size() != 1) throw UsageError("export takes one MOUNT");
    std::string output;
    for (const auto &[name, value] : args.options) {
        if (name == "output") output = value;
    }
    return run_export(args.operands[0], output);
}

int top_main(const ParsedArgs &args)
{
    if (args.operands.size() > 1) throw UsageError("top takes at most one DIR");
    TopOptions options;
    options.dir = args.operands.empty() ? "." : args.operands[0];
    options.json = args.has("json");
    for (const auto &[name, value] : args.options) {
        if (name == "once") {
            options.iterations = 1;
        } else if (name == "iterations") {
            unsigned n = 0;
            const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
            if (ec != std::errc() || ptr != value.data() + value.size() || n == 0) {
                throw UsageError("invalid --iterations '" + value +
                                 "' (expected a count of 1 or more)");
            }
            options.iterations = n;
        } else if (name == "interval") {
            char *end = nullptr;
            const double seconds = std::strtod(value.c_str(), &end);
            if (end != value.c_str() + value.size() || !(seconds >= 0.05 && seconds <= 3600)) {
                throw UsageError("invalid --interval '" + value +
                                 "' (expected seconds, 0.05 to 3600)");
            }
            options.interval_s = seconds;
        }
    }
    return run_top(options);
}

std::vector<OptionSpec> with_settings(std::vector<OptionSpec> options)
{
    options.insert(options.end(), kSettingOptions.begin(), kSettingOptions.end());
    return options;
}

const std::vector<Command> &commands()
{
    static const std::vector<Command> list = {
        {"create", "chanctl create [OPTIONS] PATH...", "create channels and apply settings",
         "Creates each PATH as a channel (like touch, but an existing PATH is an\n"
         "error), then applies the given settings to it. If a setting is refused,\n"
         "the channel stays in place and the error says which settings were not\n"
         "applied.\n"
         "\n"
         "Options:\n"
         "  --mode OCTAL         permission bits, exactly (umask is not applied);\n"
         "                       default 0666 minus the umask\n"
         "  --exist-ok           an existing channel is not an error: the settings\n"
         "                       are applied to it (its mode is left alone)\n"
         "  -h, --help           show this help\n",
         true,
         with_settings({{"mode", '\0', true}, {"exist-ok", '\0', false}, {"help", 'h', false}}),
         create_main},
        {"set", "chanctl set [OPTIONS] PATH [KEY=VALUE...]",
         "change the settings of a channel or a directory's defaults",
         "Changes settings of the channel PATH or, if PATH is a directory, the\n"
         "defaults for channels later created in it. Settings are given as options\n"
         "or as KEY=VALUE, where KEY is kind, framing, capacity, max_message,\n"
         "overflow, replay, fsync, retention_bytes, retention_messages, durable,\n"
         "fifo (in:PATH or out:PATH) or uds (connect:PATH,\n"
         "listen:PATH or listen-seqpacket:PATH),\n"
         "or a full attribute name user.chanfs.NAME. Stops at the first refused\n"
         "setting and says which were applied.\n"
         "\n"
         "Options:\n"
         "  -h, --help           show this help\n",
         true, with_settings({{"help", 'h', false}}), set_main},
        {"stat",
         "chanctl stat [--json] PATH...",
         "show the settings and statistics of channels or directories",
         "Shows every user.chanfs.* attribute of each PATH as a KEY VALUE table:\n"
         "path and type, then the settings, then the statistics (stats.*).\n"
         "A directory shows only the defaults set on it.\n"
         "\n"
         "Options:\n"
         "  --json               one JSON object per PATH (an array for several):\n"
         "                       {\"path\", \"type\", \"settings\": {}, \"stats\": {}}\n"
         "  -h, --help           show this help\n",
         false,
         {{"json", '\0', false}, {"help", 'h', false}},
         stat_main},
        {"ls",
         "chanctl ls [--json] [-r] [DIR]",
         "list the channels in a directory",
         "Lists the entries of DIR (default: the current directory), one row each:\n"
         "NAME TYPE KIND FRAMING QUEUED (messages) BYTES (queued) READERS WRITERS.\n"
         "\"-\" marks a value that is not set or not reported. For a directory,\n"
         "KIND and FRAMING are the defaults set on it.\n"
         "\n"
         "Options:\n"
         "  --json               a JSON array of objects as with stat --json, plus \"name\"\n"
         "  -r, --recursive      include subdirectories; names are relative to DIR\n"
         "  -h, --help           show this help\n",
         false,
         {{"json", '\0', false}, {"recursive", 'r', false}, {"help", 'h', false}},
         ls_main},
        {"export",
         "chanctl export [-o FILE] MOUNT",
         "write a mount's tree as a config file",
         "Writes the directories and channels under MOUNT as a chanfs config file\n"
         "(TOML): [mount] for MOUNT itself, [dir.\"PATH\"] for each directory with\n"
         "the defaults set on it, [channel.\"PATH\"] for each channel with all its\n"
         "settings and bridges; mode, owner and group for each. chanfs makes the\n"
         "same tree from it at mount (STATE_DIR/chanfs.toml or -o config=FILE).\n"
         "Messages and statistics are not exported.\n"
         "\n"
         "Options:\n"
         "  -o, --output FILE    write to FILE (replaced whole) instead of stdout\n"
         "  -h, --help           show this help\n",
         false,
         {{"output", 'o', true}, {"help", 'h', false}},
         export_main},
        {"top",
         "chanctl top [--once | --iterations N] [--interval SECONDS] [--json] [DIR]",
         "a live table of the channels under a directory",
         "Shows the channels under DIR (default: the current directory) and its\n"
         "subdirectories, one row each: NAME KIND IN/s OUT/s (messages per second\n"
         "over the last interval) QUEUED (messages) BYTES (queued) READERS WRITERS\n"
         "DROPS, refreshed every interval until Ctrl-C. \"-\" marks a rate not yet\n"
         "known (a channel new since the last refresh). On a terminal the table is\n"
         "redrawn in place; piped, each refresh is printed after the last.\n"
         "\n"
         "Options:\n"
         "  --once               print one table (after one interval) and exit\n"
         "  --iterations N       print N tables and exit\n"
         "  --interval SECONDS   time between refreshes (default 1; 0.05 to 3600)\n"
         "  --json               one JSON array per refresh instead of a table\n"
         "  -h, --help           show this help\n",
         false,
         {{"once", '\0', false},
          {"iterations", '\0', true},
          {"interval", '\0', true},
          {"json", '\0', false},
          {"help", 'h', false}},
         top_main},
    };
    return list;
}

const Command *find_command(std::string_view name)
{
    for (const auto &command : commands()) {
        if (command.name == name) return &command;
    }
    return nullptr;
}

void print_main_help(std::ostream &out)
{
    out << "usage: chanctl COMMAND [ARGS...]\n"
           "\n"
           "Create, configure and inspect the channels of a chanfs mount\n"
           "through their user.chanfs.* extended attributes.\n"
           "\n"
           "Commands:\n";
    for (const auto &command : commands()) {
        out << "  " << command.name << std::string(8 - command.name.size(), ' ') << command.summary
            << '\n';
    }
    out << "  help    show help for a command\n"
           "\n"
           "Options:\n"
           "  -h, --help     show this help\n"
           "  --version      show the version\n"
           "\n"
           "Options may come before or after operands; \"--\" ends the options.\n"
           "Exit status: 0 on success, 1 if an operation failed, 2 on a usage error.\n"
           "Run 'chanctl help COMMAND' for a command's options.\n";
}

void print_command_help(const Command &command, std::ostream &out)
{
    out << "usage: " << command.usage << "\n\n" << command.details;
    if (command.has_settings) out << '\n' << settings_help();
}

int usage_error(std::string_view message, const Command *command)
{
    std::cerr << "chanctl: " << message << '\n';
    if (command != nullptr) {
        std::cerr << "usage: " << command->usage << '\n'
                  << "Try 'chanctl help " << command->name << "' for more information.\n";
    } else {
        std::cerr << "usage: chanctl COMMAND [ARGS...]\n"
                     "Try 'chanctl --help' for more information.\n";
    }
    return 2;
}

int dispatch(std::span<char *const> args)
{
    if (args.empty()) return usage_error("missing command", nullptr);
    const std::string_view first = args[0];
    if (first == "--help" || first == "-h") {
        print_main_help(std::cout);
        return 0;
    }
    if (first == "--version") {
        std::cout << "chanctl (chanfs) " << CHANFS_VERSION << '\n';
        return 0;
    }
    if (first == "help") {
        if (args.size() == 1) {
            print_main_help(std::cout);
            return 0;
        }
        if (args.size() > 2) return usage_error("help takes one COMMAND", nullptr);
        const Command *command = find_command(args[1]);
        if (command == nullptr) {
            return usage_error("unknown command '" + std::string(args[1]) + "'", nullptr);
        }
        print_command_help(*command, std::cout);
        return 0;
    }

    const Command *command = find_command(first);
    if (command == nullptr)
        return usage_error("unknown command '" + std::string(first) + "'", nullptr);
    try {
        const ParsedArgs parsed = parse_args(args.subspan(1), command->options);
        if (parsed.has("help")) {
            print_command_help(*command, std::cout);
            return 0;
        }
        return command->run(parsed);
    } catch (const UsageError &e) {
        return usage_error(e.what(), command);
    }
}

}  // namespace
}  // namespace chanctl

int main(int argc, char **argv)
{
    int status;
    try {
        const auto count = argc > 0 ? static_cast<size_t>(argc - 1) : 0;
        status = chanctl::dispatch(std::span<char *const>(argv + 1, count));
    } catch (const std::exception &e) {
        std::cerr << "chanctl: " << e.what() << '\n';
        status = 1;
    }
    // Output that never reached its destination (a full disk, a closed
    // pipe reader) is a failure a script must be able to see.
    std::cout.flush();
    if (std::fflush(stdout) != 0 || std::ferror(stdout) || !std::cout) {
        const int err = errno;
        std::cerr << "chanctl: write error: stdout: " << std::strerror(err) << '\n';
        if (status == 0) status = 1;
    }
    return status;
}
