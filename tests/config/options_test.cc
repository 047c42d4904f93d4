// FinalizeOptions: machine defaults and the rules between options (the command line and the
// config file are tested end to end in tests/integration/test_service.py).
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

}  // namespace
}  // namespace imgsink::daemon
