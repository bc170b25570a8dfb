// chanctl: the command-line tool over a chanfs mount's user.chanfs.*
// extended attributes. Everything it does can be done with touch, setfattr
// and getfattr; chanctl adds the right order, readable errors and JSON.

#include <fcntl.h>

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
#include "tools/chanctl/health.h"
#include "tools/chanctl/scripting.h"
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

// "--timeout 2.5": seconds, more than 0 and at most a day.
double parse_timeout(const std::string &value)
{
    char *end = nullptr;
    const double seconds = std::strtod(value.c_str(), &end);
    if (end != value.c_str() + value.size() || !(seconds > 0 && seconds <= 86400))
        throw UsageError("invalid --timeout '" + value + "' (expected seconds, up to 86400)");
    return seconds;
}

int health_main(const ParsedArgs &args)
{
    if (args.operands.size() != 1) throw UsageError("health takes one MOUNT");
    HealthOptions options;
    options.mount = args.operands[0];
    options.json = args.has("json");
    for (const auto &[name, value] : args.options)
        if (name == "timeout") options.timeout_s = parse_timeout(value);
    return run_health(options);
}

unsigned long parse_count(const std::string &option, const std::string &value, bool zero_ok)
{
    unsigned long n = 0;
    const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc() || ptr != value.data() + value.size() || (!zero_ok && n == 0))
        throw UsageError("invalid " + option + " '" + value + "' (expected a count" +
                         (zero_ok ? "" : " of 1 or more") + ")");
    return n;
}

int pub_main(const ParsedArgs &args)
{
    if (args.operands.empty()) throw UsageError("missing PATH");
    PubOptions options;
    options.path = args.operands[0];
    options.messages.assign(args.operands.begin() + 1, args.operands.end());
    for (const auto &[name, value] : args.options)
        if (name == "file") options.file = value;
    if (!options.file.empty() && !options.messages.empty())
        throw UsageError("give MESSAGE operands or --file, not both");
    return run_pub(options);
}

int sub_main(const ParsedArgs &args)
{
    if (args.operands.size() != 1) throw UsageError("sub takes one PATH");
    SubOptions options;
    options.path = args.operands[0];
    options.json = args.has("json");
    options.lp32_decode = args.has("lp32-decode");
    for (const auto &[name, value] : args.options) {
        if (name == "count") options.count = parse_count("-n", value, false);
        if (name == "timeout") options.timeout_s = parse_timeout(value);
        if (name == "ready-fd") {
            options.ready_fd = static_cast<int>(parse_count("--ready-fd", value, true));
            if (::fcntl(options.ready_fd, F_GETFD) < 0)
                throw UsageError("--ready-fd " + value + ": not an open file descriptor");
        }
    }
    return run_sub(options);
}

int wait_main(const ParsedArgs &args)
{
    if (args.operands.size() != 1) throw UsageError("wait takes one PATH");
    WaitOptions options;
    options.path = args.operands[0];
    int conditions = 0;
    for (const auto &[name, value] : args.options) {
        if (name == "empty") {
            options.until = WaitOptions::Until::Empty;
            ++conditions;
        } else if (name == "readers") {
            options.until = WaitOptions::Until::Readers;
            options.count = parse_count("--readers", value, true);
            ++conditions;
        } else if (name == "messages") {
            options.until = WaitOptions::Until::Messages;
            options.count = parse_count("--messages", value, true);
            ++conditions;
        } else if (name == "timeout") {
            options.timeout_s = parse_timeout(value);
        }
    }
    if (conditions != 1) throw UsageError("give one of --empty, --readers N, --messages N");
    return run_wait(options);
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
        {"health",
         "chanctl health [--timeout SECONDS] [--json] MOUNT",
         "check that the chanfs daemon at a mount answers",
         "Checks that MOUNT is a chanfs mount and that its daemon answers a request\n"
         "(a read of the mount's stats) within the timeout. For liveness and\n"
         "readiness probes (systemd ExecStartPost=, container health checks).\n"
         "\n"
         "Exit status:\n"
         "  0  the daemon answered\n"
         "  1  MOUNT cannot be checked (missing, permission denied, another error)\n"
         "  2  usage error\n"
         "  3  MOUNT is not a chanfs mount\n"
         "  4  stale mount: mounted, but the daemon is gone (ENOTCONN)\n"
         "  5  the daemon did not answer within the timeout\n"
         "\n"
         "Options:\n"
         "  --timeout SECONDS    how long to wait for the answer (default 5)\n"
         "  --json               one JSON object: mount, state (ok, error,\n"
         "                       not_chanfs, stale, no_answer), exit_status,\n"
         "                       message; entries, memory_bytes, max_memory if ok\n"
         "  -h, --help           show this help\n",
         false,
         {{"timeout", '\0', true}, {"json", '\0', false}, {"help", 'h', false}},
         health_main},
        {"pub",
         "chanctl pub [--file FILE] PATH [MESSAGE...]",
         "write messages to a channel, framed for it",
         "Writes each MESSAGE to the channel PATH as one message of its framing:\n"
         "lines and bytes get a newline (unless the message ends with one),\n"
         "messages is one write(2) per message, lp32 gets its 4-byte little-endian\n"
         "length. Without MESSAGE, each line of stdin is a message; with --file,\n"
         "the file's whole content is one message.\n"
         "\n"
         "Options:\n"
         "  --file FILE          send FILE's content as one message\n"
         "  -h, --help           show this help\n",
         false,
         {{"file", '\0', true}, {"help", 'h', false}},
         pub_main},
        {"sub",
         "chanctl sub [-n COUNT] [--timeout SECONDS] [--json] [--lp32-decode] [--ready-fd N] PATH",
         "print the messages read from a channel",
         "Reads the channel PATH and prints each message on a line of its own\n"
         "(lp32 frames as they are, header included, unless --lp32-decode).\n"
         "Without -n, runs until end of stream (a pipe's writer closed) or the\n"
         "timeout. A queue's messages are taken, as by any reader; with -n, no\n"
         "more than COUNT are taken, so the rest stay for other readers.\n"
         "\n"
         "Exit status: 0 after COUNT messages (or at end of stream without -n),\n"
         "1 on an error or an end of stream before COUNT, 2 usage error,\n"
         "5 the timeout passed first.\n"
         "\n"
         "Options:\n"
         "  -n, --count COUNT    exit after COUNT messages\n"
         "  --timeout SECONDS    give up after SECONDS in all\n"
         "  --json               one JSON object per line: {\"message\": \"...\"}\n"
         "  --lp32-decode        lp32 channels: print the bodies, not the frames\n"
         "  --ready-fd N         once subscribed (the channel is open, so nothing\n"
         "                       written from now on is missed), write a newline\n"
         "                       to file descriptor N and close it\n"
         "  -h, --help           show this help\n",
         false,
         {{"count", 'n', true},
          {"timeout", '\0', true},
          {"json", '\0', false},
          {"lp32-decode", '\0', false},
          {"ready-fd", '\0', true},
          {"help", 'h', false}},
         sub_main},
        {"wait",
         "chanctl wait (--empty | --readers N | --messages N) [--timeout SECONDS] PATH",
         "block until a channel is drained, has readers or holds messages",
         "Blocks until the channel PATH meets the condition: --empty, no queued\n"
         "messages; --readers N, at least N open readers; --messages N, at least\n"
         "N queued messages. It opens no handle (that would change what it\n"
         "watches): it reads the channel's stats every 10 ms.\n"
         "\n"
         "Exit status: 0 the condition holds, 1 error, 2 usage error, 5 timeout.\n"
         "\n"
         "Options:\n"
         "  --empty              wait until stats.queued_messages is 0\n"
         "  --readers N          wait until stats.readers is N or more\n"
         "  --messages N         wait until stats.queued_messages is N or more\n"
         "  --timeout SECONDS    give up after SECONDS\n"
         "  -h, --help           show this help\n",
         false,
         {{"empty", '\0', false},
          {"readers", '\0', true},
          {"messages", '\0', true},
          {"timeout", '\0', true},
          {"help", 'h', false}},
         wait_main},
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
