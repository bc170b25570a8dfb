// The subcommands as data: usage and help text, options, and the adapter
// from parsed arguments to the run_* function that does the work.
#include "tools/chanctl/command_list.h"

#include <fcntl.h>

#include <string>
#include <vector>

#include "tools/chanctl/commands.h"
#include "tools/chanctl/health.h"
#include "tools/chanctl/scripting.h"

namespace chanctl {
namespace {

// The options of create and set that name a setting or an endpoint (names.h).
const std::vector<OptionSpec> kSettingOptions = [] {
    std::vector<OptionSpec> specs;
    for (const SettingOption &o : setting_options())
        specs.push_back({o.name, '\0', o.takes_value, o.metavar});
    return specs;
}();

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

int create_main(const ParsedArgs &args)
{
    CreateOptions options;
    options.paths = args.operands;
    if (options.paths.empty()) throw UsageError("missing PATH");
    collect_settings(args, options.settings);
    if (const std::string *mode = args.value("mode")) options.mode = parse_mode(*mode);
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
    const std::string *output = args.value("output");
    return run_export(args.operands[0], output ? *output : std::string());
}

int top_main(const ParsedArgs &args)
{
    if (args.operands.size() > 1) throw UsageError("top takes at most one DIR");
    TopOptions options;
    options.dir = args.operands.empty() ? "." : args.operands[0];
    options.json = args.has("json");
    if (const std::string *n = args.value("iterations"))
        options.iterations = static_cast<unsigned>(parse_count("--iterations", *n, false));
    if (args.has("once")) options.iterations = 1;
    if (const std::string *s = args.value("interval"))
        options.interval_s = parse_seconds("--interval", *s, 0.05, 3600, true, "0.05 to 3600");
    return run_top(options);
}

// "--timeout 2.5": seconds, more than 0 and at most a day.
double parse_timeout(const std::string &value)
{
    return parse_seconds("--timeout", value, 0, 86400, false, "up to 86400");
}

int health_main(const ParsedArgs &args)
{
    if (args.operands.size() != 1) throw UsageError("health takes one MOUNT");
    HealthOptions options;
    options.mount = args.operands[0];
    options.json = args.has("json");
    if (const std::string *t = args.value("timeout")) options.timeout_s = parse_timeout(*t);
    return run_health(options);
}

int pub_main(const ParsedArgs &args)
{
    if (args.operands.empty()) throw UsageError("missing PATH");
    PubOptions options;
    options.path = args.operands[0];
    options.messages.assign(args.operands.begin() + 1, args.operands.end());
    if (const std::string *file = args.value("file")) options.file = *file;
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
    if (const std::string *n = args.value("count")) options.count = parse_count("-n", *n, false);
    if (const std::string *t = args.value("timeout")) options.timeout_s = parse_timeout(*t);
    if (const std::string *fd = args.value("ready-fd")) {
        options.ready_fd = static_cast<int>(parse_count("--ready-fd", *fd, true));
        if (::fcntl(options.ready_fd, F_GETFD) < 0)
            throw UsageError("--ready-fd " + *fd + ": not an open file descriptor");
    }
    return run_sub(options);
}

int wait_main(const ParsedArgs &args)
{
    if (args.operands.size() != 1) throw UsageError("wait takes one PATH");
    WaitOptions options;
    options.path = args.operands[0];
    int conditions = 0;
    if (args.has("empty")) {
        options.until = WaitOptions::Until::Empty;
        ++conditions;
    }
    if (const std::string *n = args.value("readers")) {
        options.until = WaitOptions::Until::Readers;
        options.count = parse_count("--readers", *n, true);
        ++conditions;
    }
    if (const std::string *n = args.value("messages")) {
        options.until = WaitOptions::Until::Messages;
        options.count = parse_count("--messages", *n, true);
        ++conditions;
    }
    if (conditions != 1) throw UsageError("give one of --empty, --readers N, --messages N");
    if (const std::string *t = args.value("timeout")) options.timeout_s = parse_timeout(*t);
    return run_wait(options);
}

std::vector<OptionSpec> with_settings(std::vector<OptionSpec> options)
{
    options.insert(options.end(), kSettingOptions.begin(), kSettingOptions.end());
    return options;
}

}  // namespace

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
         with_settings(
             {{"mode", '\0', true, "OCTAL"}, {"exist-ok", '\0', false}, {"help", 'h', false}}),
         create_main},
        {"set", "chanctl set [OPTIONS] PATH [KEY=VALUE...]",
         "change the settings of a channel or a directory's defaults",
         "Changes settings of the channel PATH or, if PATH is a directory, the\n"
         "defaults for channels later created in it. Settings are given as options\n"
         "or as KEY=VALUE, where KEY is a setting below without its \"--\" (max_message\n"
         "or max-message), a bridge (fifo=in:PATH, uds=connect:PATH ...), or a full\n"
         "attribute name user.chanfs.NAME. Stops at the first refused setting and\n"
         "says which were applied.\n"
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
         {{"output", 'o', true, "FILE"}, {"help", 'h', false}},
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
          {"iterations", '\0', true, "N"},
          {"interval", '\0', true, "SECONDS"},
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
         {{"timeout", '\0', true, "SECONDS"}, {"json", '\0', false}, {"help", 'h', false}},
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
         {{"file", '\0', true, "FILE"}, {"help", 'h', false}},
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
         {{"count", 'n', true, "COUNT"},
          {"timeout", '\0', true, "SECONDS"},
          {"json", '\0', false},
          {"lp32-decode", '\0', false},
          {"ready-fd", '\0', true, "N"},
          {"help", 'h', false}},
         sub_main},
        {"wait",
         "chanctl wait (--empty | --readers N | --messages N) [--timeout SECONDS] PATH",
         "block until a channel is drained, has readers or holds messages",
         "Blocks until the channel PATH meets the condition: --empty, no queued\n"
         "messages; --readers N, at least N open readers; --messages N, at least\n"
         "N queued messages. It opens the channel as a watcher (neither reader nor\n"
         "writer, so it changes nothing it watches; it needs read and write\n"
         "permission) and sleeps in poll(2), which chanfs wakes on every change of\n"
         "the queued messages, readers or writers.\n"
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
          {"readers", '\0', true, "N"},
          {"messages", '\0', true, "N"},
          {"timeout", '\0', true, "SECONDS"},
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

}  // namespace chanctl
