// FinalizeOptions: machine defaults and the rules between options (the command line and the
// config file are tested end to end in tests/integration/test_service.py).
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <catch.hpp>

#include "daemon/config/options.h"
#include "daemon/journal/journal_types.h"
#include "imgsink/proto/endpoint.h"

namespace imgsink::daemon {
namespace {

TEST_CASE("No listen and no inherited socket means the default endpoint", "[options]") {
  DaemonOptions o;
  REQUIRE(FinalizeOptions(&o).ok());
  CHECK(o.listen == std::vector<std::string>{DefaultEndpoint()});
  CHECK(o.workers >= 1);
}

TEST_CASE("Inherited sockets replace the default endpoint", "[options]") {
  DaemonOptions o;
  o.inherited_sockets = {{3, "ipc:///run/imgsink/imgsinkd.sock"}};
  REQUIRE(FinalizeOptions(&o).ok());
  CHECK(o.listen.empty());
}

TEST_CASE("An inherited tcp socket needs CURVE or insecure_tcp like --listen", "[options]") {
  DaemonOptions o;
  o.inherited_sockets = {{3, "tcp://0.0.0.0:5555"}};
  const Status s = FinalizeOptions(&o);
  CHECK(s.code() == ErrorCode::kBadOption);
  CHECK(s.message().find("tcp:// endpoints need CURVE") != std::string::npos);
  DaemonOptions insecure;
  insecure.inherited_sockets = o.inherited_sockets;
  insecure.insecure_tcp = true;
  CHECK(FinalizeOptions(&insecure).ok());
}

TEST_CASE("Idle exit: off by default, seconds from --idle-exit or the config file",
          "[options]") {
  DaemonOptions defaults;
  REQUIRE_FALSE(ParseCommandLine({}, &defaults).has_value());
  CHECK(defaults.idle_exit_s == 0);

  DaemonOptions flag;
  REQUIRE_FALSE(ParseCommandLine({"--idle-exit", "600"}, &flag).has_value());
  CHECK(flag.idle_exit_s == 600);
  CHECK(FormatConfig(flag).find("idle_exit = 600\n") != std::string::npos);

  const std::string path = "options_test_idle_" + std::to_string(getpid()) + ".toml";
  std::ofstream(path) << "idle_exit = 42\n";
  DaemonOptions file;
  REQUIRE_FALSE(ParseCommandLine({"--config", path}, &file).has_value());
  CHECK(file.idle_exit_s == 42);
  DaemonOptions both;  // the command line wins over the file
  REQUIRE_FALSE(ParseCommandLine({"--config", path, "--idle-exit=7"}, &both).has_value());
  CHECK(both.idle_exit_s == 7);
  std::remove(path.c_str());

  DaemonOptions negative;
  CHECK(ParseCommandLine({"--idle-exit", "-1"}, &negative) == std::optional<int>(2));

  std::string fixed;
  CHECK_FALSE(OnlyReloadableDiffer(defaults, flag, &fixed));
  CHECK(fixed.find("idle_exit") != std::string::npos);
}

TEST_CASE("Paths: roots by default, --paths caller; --output-root repeatable, also as a config array",
          "[options][paths]") {
  DaemonOptions defaults;
  REQUIRE_FALSE(ParseCommandLine({}, &defaults).has_value());
  CHECK_FALSE(defaults.caller_paths);
  CHECK(defaults.output_root == "./imgsink-out");
  CHECK(defaults.more_output_roots.empty());
  CHECK(FormatConfig(defaults).find("paths = \"roots\"\n") != std::string::npos);

  DaemonOptions flags;
  REQUIRE_FALSE(ParseCommandLine({"--paths", "caller", "--output-root", "/a", "--output-root=/b",
                                  "--output-root", "/c"},
                                 &flags)
                     .has_value());
  CHECK(flags.caller_paths);
  CHECK(flags.output_root == "/a");
  CHECK(flags.more_output_roots == std::vector<std::string>{"/b", "/c"});
  REQUIRE(FinalizeOptions(&flags).ok());
  CHECK(FormatConfig(flags).find("output_root = [\"/a\", \"/b\", \"/c\"]\n") != std::string::npos);
  CHECK(FormatConfig(flags).find("paths = \"caller\"\n") != std::string::npos);
  std::string fixed;
  CHECK_FALSE(OnlyReloadableDiffer(defaults, flags, &fixed));
  CHECK(fixed.find("paths") != std::string::npos);

  const std::string path = "options_test_roots_" + std::to_string(getpid()) + ".toml";
  std::ofstream(path) << "output_root = [\"/srv/out\", \"/data/shared\"]\npaths = \"roots\"\n";
  DaemonOptions file;
  REQUIRE_FALSE(ParseCommandLine({"--config", path}, &file).has_value());
  CHECK(file.output_root == "/srv/out");
  CHECK(file.more_output_roots == std::vector<std::string>{"/data/shared"});
  DaemonOptions both;  // the command line's roots replace the file's
  REQUIRE_FALSE(ParseCommandLine({"--config", path, "--output-root", "/x"}, &both).has_value());
  CHECK(both.output_root == "/x");
  CHECK(both.more_output_roots.empty());
  std::remove(path.c_str());

  DaemonOptions bad;
  CHECK(ParseCommandLine({"--paths", "anywhere"}, &bad) == std::optional<int>(2));
  DaemonOptions remote;
  remote.caller_paths = true;
  remote.output_root = "s3://bucket/prefix";
  CHECK(FinalizeOptions(&remote).code() == ErrorCode::kBadOption);
  DaemonOptions empty;
  empty.more_output_roots = {""};
  CHECK(FinalizeOptions(&empty).code() == ErrorCode::kBadOption);
  // Each output adds its counters to the status reply: at most 8.
  DaemonOptions many;
  for (int i = 0; i < 9; ++i) many.outputs.push_back("/tmp/imgsink-out-" + std::to_string(i));
  const Status s = FinalizeOptions(&many);
  CHECK(s.code() == ErrorCode::kBadOption);
  CHECK(s.message().find("at most 8 --output") != std::string::npos);
}

}  // namespace
}  // namespace imgsink::daemon

namespace imgsink::daemon {
namespace {

// Issue 12 row 7: --journal-budget 4M below the 64 MiB segment size left an idle daemon
// answering busy forever.  Segments now follow the budget; a budget too small for any is refused.
TEST_CASE("A journal budget too small for compaction is refused; segments follow the budget",
          "[options]") {
  DaemonOptions o;
  o.journal_budget = journal::kMinJournalBudget - 1;
  const Status s = FinalizeOptions(&o);
  CHECK(s.code() == ErrorCode::kBadOption);
  CHECK_THAT(s.message(), Catch::Contains("--journal-budget"));
  o.journal = false;  // no journal, no journal budget to check
  CHECK(FinalizeOptions(&o).ok());
  o.journal = true;
  o.journal_budget = journal::kMinJournalBudget;
  CHECK(FinalizeOptions(&o).ok());

  for (uint64_t budget : {journal::kMinJournalBudget, uint64_t{4} << 20, uint64_t{100} << 20,
                          uint64_t{8} << 30}) {
    const uint64_t segment = journal::SegmentBytesForBudget(budget);
    INFO("budget " << budget << ", segment " << segment);
    // An idle journal holds at most its active segment and one batch (2 segments): the rest
    // of the budget stays grantable.
    CHECK(2 * segment <= budget / 2);
    CHECK(segment >= uint64_t{256} << 10);
    CHECK(segment <= uint64_t{64} << 20);
  }
  CHECK(journal::SegmentBytesForBudget(uint64_t{4} << 20) == uint64_t{1} << 20);
}

}  // namespace
}  // namespace imgsink::daemon

namespace imgsink::daemon {
namespace {

// Issue 12 row 7: the journal's segments are sized at start, so a reload that cut the budget
// under four of them (8G -> 4M with 64 MiB segments) brought back the idle daemon that answers
// busy forever.  The reload's budget is refused instead, naming the least it takes.
TEST_CASE("a reload may not lower journal_budget under four of the running segments",
          "[options][reload]") {
  DaemonOptions started;
  REQUIRE_FALSE(ParseCommandLine({"--journal-budget", "8G"}, &started).has_value());
  REQUIRE(FinalizeOptions(&started).ok());
  const uint64_t segment = journal::SegmentBytesForBudget(started.journal_budget);
  REQUIRE(segment == (uint64_t{64} << 20));
  CHECK(CheckReloadedJournalBudget(started, segment).ok());

  DaemonOptions lowered;
  REQUIRE_FALSE(ParseCommandLine({"--journal-budget", "4M"}, &lowered).has_value());
  REQUIRE(FinalizeOptions(&lowered).ok());  // fine for a fresh start: its segments are 1M
  std::string fixed;
  REQUIRE(OnlyReloadableDiffer(started, lowered, &fixed));  // the budget itself is reloadable
  const Status s = CheckReloadedJournalBudget(lowered, segment);
  CHECK(s.code() == ErrorCode::kBadOption);
  CHECK_THAT(s.message(), Catch::Contains("journal_budget 4194304 is below 268435456") &&
                              Catch::Contains("restart"));

  // Exactly four segments is enough; one byte less is not.
  DaemonOptions edge = lowered;
  edge.journal_budget = 4 * segment;
  CHECK(CheckReloadedJournalBudget(edge, segment).ok());
  edge.journal_budget = 4 * segment - 1;
  CHECK_FALSE(CheckReloadedJournalBudget(edge, segment).ok());

  // A daemon started with small segments takes a budget down to four of them.
  const uint64_t small = journal::SegmentBytesForBudget(uint64_t{2} << 20);
  REQUIRE(small == (uint64_t{512} << 10));
  CHECK(CheckReloadedJournalBudget(lowered, small).ok());
  // Every budget a daemon may start with suits the segments it picks.
  for (uint64_t b = journal::kMinJournalBudget; b <= (uint64_t{1} << 40); b = b * 3 / 2 + 1) {
    edge.journal_budget = b;
    CHECK(CheckReloadedJournalBudget(edge, journal::SegmentBytesForBudget(b)).ok());
  }
  // No journal: nothing to check.
  DaemonOptions off = lowered;
  off.journal = false;
  CHECK(CheckReloadedJournalBudget(off, 0).ok());
}

}  // namespace
}  // namespace imgsink::daemon
