// FinalizeOptions: machine defaults and the rules between options (the command line and the
// config file are tested end to end in tests/integration/test_service.py).
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <catch.hpp>

#include "daemon/config/options.h"
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

}  // namespace
}  // namespace imgsink::daemon
