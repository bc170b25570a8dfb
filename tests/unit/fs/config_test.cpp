// The config file parser and checker (fs/config/config.cpp): a good file, and every
// kind of bad input with its exact line and reason; nothing comes out of a
// refused file.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "fs/config/config.h"

namespace chanfs::fs {
namespace {

struct Parsed {
    bool ok = false;
    Config config;
    std::vector<ConfigProblem> problems;
};

Parsed parse(const std::string &text, const PartialSettings &mountDefaults = {})
{
    Parsed p;
    p.config.file = "untouched";
    p.ok = parseConfig(text, "test.toml", mountDefaults, &p.config, &p.problems);
    return p;
}

// The one problem of a refused file.
ConfigProblem onlyProblem(const std::string &text)
{
    const Parsed p = parse(text);
    EXPECT_FALSE(p.ok);
    EXPECT_EQ(p.problems.size(), 1u);
    // Nothing of a refused file is handed out.
    EXPECT_EQ(p.config.file, "untouched");
    EXPECT_TRUE(p.config.nodes.empty());
    return p.problems.empty() ? ConfigProblem{} : p.problems.front();
}

const ConfigNode *find(const Config &c, const std::string &path)
{
    for (const ConfigNode &n : c.nodes)
        if (n.path == path) return &n;
    return nullptr;
}

TEST(Config, GoodFileGivesEveryNodeParentsFirst)
{
    const Parsed p = parse(R"(# a comment
[mount]
mode = "0750"
kind = "queue"

[channel."sensors/temp"]
capacity = "64K"
max_message = 4096
mode = "0664"
owner = "root"
group = 0
fifo = "in:/run/temp.fifo"

[dir.'sensors']
kind = "topic"
replay = 10

[channel.plain]
uds = "listen-seqpacket:/run/plain.sock"
)");
    ASSERT_TRUE(p.ok) << (p.problems.empty() ? "" : formatProblem("test.toml", p.problems[0]));
    const Config &c = p.config;
    EXPECT_EQ(c.file, "test.toml");
    EXPECT_EQ(c.root.line, 2);
    EXPECT_EQ(c.root.mode, 0750u);
    EXPECT_EQ(c.root.settings, (decltype(c.root.settings){{"kind", "queue"}}));
    ASSERT_EQ(c.nodes.size(), 3u);
    EXPECT_EQ(c.nodes[0].path, "plain");
    EXPECT_EQ(c.nodes[1].path, "sensors");
    EXPECT_EQ(c.nodes[2].path, "sensors/temp");

    const ConfigNode *temp = find(c, "sensors/temp");
    ASSERT_NE(temp, nullptr);
    EXPECT_FALSE(temp->isDir);
    EXPECT_EQ(temp->line, 6);
    EXPECT_EQ(temp->lineOf("fifo"), 12);
    EXPECT_EQ(temp->settings,
              (decltype(temp->settings){{"capacity", "64K"}, {"max_message", "4096"}}));
    EXPECT_EQ(temp->mode, 0664u);
    EXPECT_EQ(temp->uid, 0u);
    EXPECT_EQ(temp->gid, 0u);
    EXPECT_EQ(temp->endpoint("fifo"), "in:/run/temp.fifo");
    EXPECT_EQ(temp->endpoint("uds"), "");

    const ConfigNode *sensors = find(c, "sensors");
    ASSERT_NE(sensors, nullptr);
    EXPECT_TRUE(sensors->isDir);
    EXPECT_EQ(sensors->line, 14);
    EXPECT_FALSE(sensors->mode);
    EXPECT_EQ(sensors->settings,
              (decltype(sensors->settings){{"kind", "topic"}, {"replay", "10"}}));
    EXPECT_EQ(find(c, "plain")->endpoint("uds"), "listen-seqpacket:/run/plain.sock");
}

TEST(Config, SettingsAreKeptInApplyOrderKindAndFramingFirst)
{
    const Parsed p = parse(
        "[channel.\"q\"]\nreplay = 3\nframing = \"messages\"\n"
        "max_message = \"1000\"\nkind = \"topic\"\n");
    ASSERT_TRUE(p.ok);
    EXPECT_EQ(
        p.config.nodes[0].settings,
        (decltype(p.config.nodes[0].settings){
            {"kind", "topic"}, {"framing", "messages"}, {"max_message", "1000"}, {"replay", "3"}}));
}

TEST(Config, EmptyFileIsAnEmptyTree)
{
    const Parsed p = parse("# nothing\n");
    ASSERT_TRUE(p.ok);
    EXPECT_TRUE(p.config.nodes.empty());
    EXPECT_TRUE(p.config.root.settings.empty());
}

TEST(Config, ChannelSettingsStartFromWhatTheyInherit)
{
    PartialSettings mount;
    mount.capacityBytes = 4096;
    PartialSettings dir;
    dir.kind = Kind::Queue;
    Settings s;
    std::string why, bad;
    ASSERT_EQ(channelSettings(mount, {&dir}, {{"framing", "lp32"}}, &s, &why, &bad), 0);
    EXPECT_EQ(s.kind, Kind::Queue);
    EXPECT_EQ(s.framing, Framing::Lp32);
    EXPECT_EQ(s.capacityBytes, 4096u);
    EXPECT_EQ(channelSettings(mount, {&dir}, {{"overflow", "later"}}, &s, &why, &bad), -EINVAL);
    EXPECT_EQ(bad, "overflow");
    EXPECT_EQ(why, "expected block, drop-oldest or error");
}

TEST(Config, SyntaxErrorHasCpptomlsLine)
{
    EXPECT_EQ(onlyProblem("[mount]\nkind = \"queue\"\n[dir.\"a\"\n"),
              (ConfigProblem{3,
                             "TOML syntax: Unterminated table declaration; did you forget a "
                             "']'?"}));
    EXPECT_EQ(onlyProblem("[channel.\"a\"]\nkind = queue\n").line, 2);
}

// Found by config_fuzz: cpptoml reports something left open at the end of
// the file on the line after the last, a line no editor shows.
TEST(Config, SyntaxErrorAtTheEndIsOnTheLastLine)
{
    EXPECT_EQ(onlyProblem("[mount]\nmode = \"0755\"\nx = ["),
              (ConfigProblem{3, "TOML syntax: Unclosed array"}));
    EXPECT_EQ(onlyProblem("x = [\n").line, 1);
    EXPECT_EQ(onlyProblem("x = [\n\n").line, 2);
}

// cpptoml recurses once per nested array or inline table: 200,000 `[`
// overflowed the stack and killed the daemon at mount.
TEST(Config, DeepNestingIsRefusedNotAStackOverflow)
{
    EXPECT_EQ(onlyProblem("[mount]\nx = " + std::string(200000, '[') + "\n"),
              (ConfigProblem{2, "TOML syntax: arrays or inline tables nested deeper than 64"}));
    EXPECT_EQ(onlyProblem("x = [\n" + std::string(100000, '{') + "\n").line, 2);
    // 64 levels are still TOML's to judge; brackets in strings and comments
    // do not count.
    EXPECT_EQ(onlyProblem("[mount]\nkind = " + std::string(64, '[') + std::string(64, ']') + "\n")
                  .message,
              "[mount] kind = an array: expected a string or a non-negative integer");
    const std::string many(100, '[');
    const Parsed p = parse("# " + many + "\n[channel.\"" + many + "\"]\nfifo = '''in:/" + many +
                           "'''\n[channel.b]\nuds = \"\"\"\nconnect:/\\\"" + many + "\"\"\"\n");
    EXPECT_TRUE(p.ok) << (p.problems.empty() ? "" : formatProblem("t", p.problems[0]));
}

TEST(Config, DuplicateChannelIsRefusedWithTheSecondLine)
{
    EXPECT_EQ(
        onlyProblem("[channel.\"a\"]\nkind = \"queue\"\n\n[channel.\"a\"]\nkind = \"topic\"\n"),
        (ConfigProblem{4, "TOML syntax: Redefinition of table channel.a"}));
}

TEST(Config, UnknownTableAndTopLevelKey)
{
    EXPECT_EQ(onlyProblem("[mount]\n\n[chanel.\"b\"]\nkind = \"queue\"\n"),
              (ConfigProblem{3,
                             "unknown table [chanel]; expected [mount], [dir.\"PATH\"] or "
                             "[channel.\"PATH\"]"}));
    EXPECT_EQ(onlyProblem("kind = \"queue\"\n"),
              (ConfigProblem{1,
                             "unknown key kind outside any table; expected [mount], "
                             "[dir.\"PATH\"] or [channel.\"PATH\"]"}));
}

TEST(Config, UnknownKey)
{
    EXPECT_EQ(onlyProblem("[dir.\"a\"]\nkind = \"queue\"\ncolour = \"red\"\n"),
              (ConfigProblem{3,
                             "[dir.\"a\"]: unknown key colour; expected kind, framing, "
                             "capacity, max_message, overflow, replay, delivery, backend, replicas, durable, fsync, "
                             "retention_bytes, retention_messages, mode, owner or group"}));
    // Bridges belong to channels.
    EXPECT_EQ(onlyProblem("[dir.\"a\"]\nfifo = \"in:/x\"\n").line, 2);
    // [channel.a.b] is a table b inside channel a, not the path a/b.
    EXPECT_EQ(onlyProblem("[channel.a]\n[channel.a.b]\nkind = \"queue\"\n"),
              (ConfigProblem{2,
                             "[channel.\"a\"]: unknown key b (a table); a path with slashes "
                             "is one quoted name, as in [channel.\"a/b\"]"}));
}

// The hint names every key the loader accepts: each setting of names.h (it
// once forgot durable, fsync and the retention limits), and for a channel
// each endpoint key.
TEST(Config, UnknownKeyHintNamesEveryKey)
{
    const std::string dirHint = onlyProblem("[dir.\"a\"]\ncolour = \"red\"\n").message;
    const std::string chanHint = onlyProblem("[channel.\"a\"]\ncolour = \"red\"\n").message;
    for (std::string_view name : kSettingNames) {
        EXPECT_NE(dirHint.find(std::string(" ") + std::string(name) + ","), std::string::npos)
            << name << " missing from: " << dirHint;
        EXPECT_NE(chanHint.find(std::string(" ") + std::string(name) + ","), std::string::npos)
            << name << " missing from: " << chanHint;
    }
    for (std::string_view key : kEndpointKeys) {
        EXPECT_NE(chanHint.find(std::string(key)), std::string::npos) << key;
        EXPECT_EQ(dirHint.find(std::string(key)), std::string::npos) << key;
    }
}

TEST(Config, BadValues)
{
    EXPECT_EQ(
        onlyProblem("[channel.\"a\"]\nkind = \"bogus\"\n"),
        (ConfigProblem{2, "[channel.\"a\"] kind = \"bogus\": expected pipe, queue or topic"}));
    EXPECT_EQ(onlyProblem("[dir.\"d\"]\n\n\noverflow = \"never\"\n"),
              (ConfigProblem{4,
                             "[dir.\"d\"] overflow = \"never\": expected block, drop-oldest "
                             "or error"}));
    EXPECT_EQ(onlyProblem("[mount]\ncapacity = 0\n"),
              (ConfigProblem{2, "[mount] capacity = 0: expected 1 to 16G bytes"}));
    EXPECT_EQ(onlyProblem("[channel.\"a\"]\nreplay = true\n"),
              (ConfigProblem{2,
                             "[channel.\"a\"] replay = true: expected a "
                             "string or a non-negative integer"}));
    EXPECT_EQ(onlyProblem("[channel.\"a\"]\nmode = 644\n"),
              (ConfigProblem{2,
                             "[channel.\"a\"] mode = 644: expected permission bits as an "
                             "octal string, such as \"0640\""}));
    EXPECT_EQ(onlyProblem("[channel.\"a\"]\nmode = \"0999\"\n").line, 2);
    EXPECT_EQ(onlyProblem("[channel.\"a\"]\nowner = \"no-such-user-here\"\n"),
              (ConfigProblem{2, "[channel.\"a\"] owner = \"no-such-user-here\": no such user"}));
    EXPECT_EQ(onlyProblem("[channel.\"a\"]\ngroup = -1\n").line, 2);
    EXPECT_EQ(onlyProblem("[channel.\"a\"]\nfifo = \"sideways:/x\"\n"),
              (ConfigProblem{2,
                             "[channel.\"a\"] fifo = \"sideways:/x\": expected in:/path or "
                             "out:/path"}));
    EXPECT_EQ(onlyProblem("[channel.\"a\"]\nfifo = \"in:relative\"\n"),
              (ConfigProblem{2,
                             "[channel.\"a\"] fifo = \"in:relative\": the FIFO path must be "
                             "absolute"}));
    EXPECT_EQ(onlyProblem("[channel.\"a\"]\nuds = \"accept:/x\"\n"),
              (ConfigProblem{2,
                             "[channel.\"a\"] uds = \"accept:/x\": expected connect:/path, "
                             "listen:/path or listen-seqpacket:/path"}));
}

TEST(Config, SettingsAreCheckedTogetherWithWhatTheyInherit)
{
    // max_message is fine alone, but not once the directory says messages.
    EXPECT_EQ(onlyProblem("[dir.\"m\"]\nframing = \"messages\"\n[channel.\"m/c\"]\n"
                          "max_message = \"2M\"\n"),
              (ConfigProblem{4,
                             "[channel.\"m/c\"] max_message = \"2M\": max_message above "
                             "1044480 with messages framing: FUSE may split a larger write() "
                             "into several requests; use lp32 for larger messages"}));
    // And with the mount-wide defaults (-o default_framing=messages).
    PartialSettings mount;
    mount.framing = Framing::Messages;
    const Parsed p = parse("[channel.\"c\"]\nmax_message = \"2M\"\n", mount);
    EXPECT_FALSE(p.ok);
    ASSERT_EQ(p.problems.size(), 1u);
    EXPECT_EQ(p.problems[0].line, 2);
}

TEST(Config, BadPaths)
{
    EXPECT_EQ(onlyProblem("[channel.\"../etc/passwd\"]\n"),
              (ConfigProblem{1, "[channel.\"../etc/passwd\"]: the path may not contain . or .."}));
    EXPECT_EQ(onlyProblem("\n[dir.\"/abs\"]\n"),
              (ConfigProblem{2, "[dir.\"/abs\"]: the path must be relative to the mount root"}));
    EXPECT_EQ(onlyProblem("[channel.\"a//b\"]\n"),
              (ConfigProblem{1, "[channel.\"a//b\"]: the path has an empty component"}));
    EXPECT_EQ(onlyProblem("[channel.\"a/\"]\n").line, 1);
    // cpptoml refuses an empty name itself.
    EXPECT_EQ(onlyProblem("[dir.\"\"]\n"),
              (ConfigProblem{1, "TOML syntax: Empty component of table name"}));
    EXPECT_EQ(onlyProblem("[dir.\"./a\"]\n").line, 1);
    EXPECT_EQ(onlyProblem("[channel.\"" + std::string(256, 'x') + "\"]\n").line, 1);
}

TEST(Config, NothingCanBeInsideAChannel)
{
    EXPECT_EQ(onlyProblem("[channel.\"a\"]\n\n[channel.\"a/b\"]\n"),
              (ConfigProblem{3,
                             "[channel.\"a/b\"]: \"a\" is a channel ([channel.\"a\"] on line "
                             "1), so nothing can be inside it"}));
    EXPECT_EQ(onlyProblem("[dir.\"x/a/deeper\"]\n[channel.\"x/a\"]\n"),
              (ConfigProblem{1,
                             "[dir.\"x/a/deeper\"]: \"x/a\" is a channel ([channel.\"x/a\"] "
                             "on line 2), so nothing can be inside it"}));
    EXPECT_EQ(
        onlyProblem("[channel.\"a\"]\n[dir.\"a\"]\n"),
        (ConfigProblem{2, "[dir.\"a\"]: \"a\" is also declared as [channel.\"a\"] on line 1"}));
}

TEST(Config, EveryProblemIsReportedByLine)
{
    const Parsed p =
        parse("[channel.\"a\"]\nkind = \"x\"\n[chanel.\"b\"]\n[dir.\"c\"]\nnope = 1\n");
    EXPECT_FALSE(p.ok);
    ASSERT_EQ(p.problems.size(), 3u);
    EXPECT_EQ(p.problems[0].line, 2);
    EXPECT_EQ(p.problems[1].line, 3);
    EXPECT_EQ(p.problems[2].line, 5);
    EXPECT_TRUE(p.config.nodes.empty());
}

TEST(Config, FormatProblem)
{
    EXPECT_EQ(formatProblem("/s/chanfs.toml", {7, "bad"}), "/s/chanfs.toml:7: bad");
    EXPECT_EQ(formatProblem("/s/chanfs.toml", {0, "cannot read"}), "/s/chanfs.toml: cannot read");
}

TEST(Config, LoadReadsTheFileAndReportsAMissingOne)
{
    Config c;
    std::vector<ConfigProblem> problems;
    EXPECT_FALSE(loadConfig("/nonexistent/chanfs.toml", {}, &c, &problems));
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0], (ConfigProblem{0, "cannot read: No such file or directory"}));

    const std::string path = ::testing::TempDir() + "config_test.toml";
    std::ofstream(path) << "[channel.\"x\"]\nkind = \"queue\"\n";
    ASSERT_TRUE(loadConfig(path, {}, &c, &problems));
    ASSERT_EQ(c.nodes.size(), 1u);
    EXPECT_EQ(c.nodes[0].path, "x");
    EXPECT_EQ(c.file, path);
    std::remove(path.c_str());
}

}  // namespace
}  // namespace chanfs::fs

namespace chanfs::fs {
namespace {

// [nats]: the cluster the NATS-backed channels live in (as -o nats=...).
TEST(Config, NatsTable)
{
    const Parsed p = parse(
        "[nats]\nservers = [\"nats://n1:4222\", \"nats://n2:4222\"]\n"
        "creds = \"/etc/chanfs/nats.creds\"\nprefix = \"plant\"\n"
        "[dir.\"plant\"]\nbackend = \"nats\"\n");
    ASSERT_TRUE(p.ok) << (p.problems.empty() ? "" : p.problems.front().message);
    EXPECT_EQ(p.config.nats.servers, (std::vector<std::string>{"nats://n1:4222", "nats://n2:4222"}));
    EXPECT_EQ(p.config.nats.credsFile, "/etc/chanfs/nats.creds");
    EXPECT_EQ(p.config.nats.prefix, "plant");
    EXPECT_EQ(onlyProblem("[nats]\nservers = [\"http://x\"]\n").line, 2);
    EXPECT_EQ(onlyProblem("[nats]\ncreds = \"relative.creds\"\n").line, 2);
    EXPECT_EQ(onlyProblem("[nats]\npassword = \"secret\"\n").line, 2);
}

}  // namespace
}  // namespace chanfs::fs

namespace chanfs::fs {
namespace {

// [nats] ack_wait: whole seconds 1-3600, as -o nats_ack_wait; anything else
// is a problem on its line that names the key and the value.
TEST(Config, NatsAckWait)
{
    const Parsed p = parse("[nats]\nservers = [\"nats://n1:4222\"]\nack_wait = 7\n");
    ASSERT_TRUE(p.ok) << (p.problems.empty() ? "" : p.problems.front().message);
    EXPECT_EQ(p.config.nats.ackWaitSeconds, 7u);
    EXPECT_TRUE(p.config.nats.given & kNatsAckWait);
    for (const char *bad : {"0", "3601", "-1", "\"30\"", "1.5"}) {
        const ConfigProblem problem =
            onlyProblem(std::string("[nats]\n\nack_wait = ") + bad + "\n");
        EXPECT_EQ(problem.line, 3) << bad;
        EXPECT_NE(problem.message.find("ack_wait"), std::string::npos) << problem.message;
        EXPECT_NE(problem.message.find("1 to 3600"), std::string::npos) << problem.message;
    }
    EXPECT_NE(onlyProblem("[nats]\nack_wait = 0\n").message.find("= 0"), std::string::npos);
}

// Each -o nats_* option wins over the same key of [nats]; keys only the
// table gives come from the table (before: any -o nats= dropped the whole
// table, and a table with servers dropped every -o nats_* option).
TEST(Config, NatsOptionsWinOverTable)
{
    const Parsed p = parse(
        "[nats]\nservers = [\"nats://n1:4222\"]\ncreds = \"/etc/chanfs/nats.creds\"\n"
        "prefix = \"plant\"\nack_wait = 7\n");
    ASSERT_TRUE(p.ok);

    NatsConfig opts;  // -o nats_ack_wait=5,nats_ca=/etc/ca.pem
    opts.ackWaitSeconds = 5;
    opts.caFile = "/etc/ca.pem";
    opts.given = kNatsAckWait | kNatsCa;
    NatsConfig m = mergeNatsConfig(opts, p.config.nats);
    EXPECT_EQ(m.servers, (std::vector<std::string>{"nats://n1:4222"}));
    EXPECT_EQ(m.credsFile, "/etc/chanfs/nats.creds");
    EXPECT_EQ(m.caFile, "/etc/ca.pem");
    EXPECT_EQ(m.prefix, "plant");
    EXPECT_EQ(m.ackWaitSeconds, 5u);

    opts = {};  // -o nats=nats://n9:4222,nats_prefix=other
    opts.servers = {"nats://n9:4222"};
    opts.prefix = "other";
    opts.given = kNatsServers | kNatsPrefix;
    m = mergeNatsConfig(opts, p.config.nats);
    EXPECT_EQ(m.servers, (std::vector<std::string>{"nats://n9:4222"}));
    EXPECT_EQ(m.prefix, "other");
    EXPECT_EQ(m.credsFile, "/etc/chanfs/nats.creds");
    EXPECT_EQ(m.ackWaitSeconds, 7u);

    // Neither gives a key: the default.
    m = mergeNatsConfig(NatsConfig{}, Parsed{}.config.nats);
    EXPECT_EQ(m.ackWaitSeconds, 30u);
    EXPECT_EQ(m.prefix, "chanfs");
    EXPECT_FALSE(m.enabled());
}

}  // namespace
}  // namespace chanfs::fs
