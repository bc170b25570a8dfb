// chanctl: the command-line tool over a chanfs mount's user.chanfs.*
// extended attributes. Everything it does can be done with touch, setfattr
// and getfattr; chanctl adds the right order, readable errors and JSON.
//
// The command line is parsed by CLI11: one subcommand per entry of
// commands() (command_list.h), each with the options its table lists. The
// help texts are chanctl's own (CLI11's --help is turned off), so `help`,
// the man page and the bash completion read the same option lists.

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tools/chanctl/cli.h"
#include "tools/chanctl/command_list.h"
#include "tools/chanctl/settings.h"

#ifndef CHANFS_VERSION
#error "CHANFS_VERSION must be defined by the build (meson defines it project-wide)"
#endif

namespace chanctl {
namespace {

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

struct Subcommand {
    const Command *command;
    CLI::App *app;
    std::unique_ptr<BoundOptions> options;
};

int dispatch(int argc, char **argv)
{
    CLI::App app("", "chanctl");
    app.set_help_flag();
    app.require_subcommand(0, 1);
    CLI::Option *main_help = app.add_flag("-h,--help")->disable_flag_override();
    CLI::Option *version = app.add_flag("--version")->disable_flag_override();
    std::vector<Subcommand> subcommands;
    for (const Command &command : commands()) {
        CLI::App *sub = app.add_subcommand(std::string(command.name));
        sub->set_help_flag();
        subcommands.push_back(
            {&command, sub, std::make_unique<BoundOptions>(*sub, command.options)});
    }
    CLI::App *help = app.add_subcommand("help");
    help->set_help_flag();
    std::vector<std::string> help_topics;
    help->add_option("COMMAND", help_topics);

    // The command a usage error belongs to: the first word, if it names one.
    const Command *named = argc > 1 ? find_command(argv[1]) : nullptr;
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        if (named == nullptr && argc > 1 && argv[1][0] != '-' &&
            std::string_view(argv[1]) != "help")
            return usage_error("unknown command '" + std::string(argv[1]) + "'", nullptr);
        return usage_error(e.what(), named);
    }

    if (main_help->count() > 0) {
        print_main_help(std::cout);
        return 0;
    }
    if (version->count() > 0) {
        std::cout << "chanctl (chanfs) " << CHANFS_VERSION << '\n';
        return 0;
    }
    if (help->parsed()) {
        if (help_topics.empty()) {
            print_main_help(std::cout);
            return 0;
        }
        if (help_topics.size() > 1) return usage_error("help takes one COMMAND", nullptr);
        const Command *command = find_command(help_topics[0]);
        if (command == nullptr)
            return usage_error("unknown command '" + help_topics[0] + "'", nullptr);
        print_command_help(*command, std::cout);
        return 0;
    }
    for (const Subcommand &s : subcommands) {
        if (!s.app->parsed()) continue;
        try {
            const ParsedArgs parsed = s.options->collect();
            if (parsed.has("help")) {
                print_command_help(*s.command, std::cout);
                return 0;
            }
            return s.command->run(parsed);
        } catch (const UsageError &e) {
            return usage_error(e.what(), s.command);
        }
    }
    return usage_error("missing command", nullptr);
}

}  // namespace
}  // namespace chanctl

int main(int argc, char **argv)
{
    int status;
    try {
        status = chanctl::dispatch(argc, argv);
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
