// The endpoint choice of a Client with several daemons, and endpoint-list parsing: pure logic.
#include <catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "endpoint_router.h"
#include "imgsink/endpoint.h"

namespace imgsink {
namespace {

using internal::EndpointLoad;
using internal::EndpointRouter;

constexpr size_t kNone = EndpointRouter::kNone;

TEST_CASE("spread goes round robin over equally loaded connected endpoints",
          "[client][endpoint_router]") {
  EndpointRouter router(EndpointPolicy::kSpread);
  const std::vector<EndpointLoad> loads = {{true, 0}, {true, 0}, {true, 0}};
  std::vector<size_t> picks;
  for (int i = 0; i < 7; ++i) picks.push_back(router.Pick(loads));
  CHECK(picks == std::vector<size_t>{0, 1, 2, 0, 1, 2, 0});
}

TEST_CASE("spread picks the connected endpoint with the fewest pending bytes",
          "[client][endpoint_router]") {
  EndpointRouter router(EndpointPolicy::kSpread);
  CHECK(router.Pick({{true, 500}, {true, 100}, {true, 300}}) == 1);
  CHECK(router.Pick({{true, 500}, {false, 0}, {true, 300}}) == 2);  // 1 is down
  // Ties among the least loaded still alternate, skipping busier ones.
  EndpointRouter ties(EndpointPolicy::kSpread);
  const std::vector<EndpointLoad> loads = {{true, 7}, {true, 9}, {true, 7}};
  CHECK(ties.Pick(loads) == 0);
  CHECK(ties.Pick(loads) == 2);
  CHECK(ties.Pick(loads) == 0);
}

TEST_CASE("failover picks the first connected endpoint whatever the load",
          "[client][endpoint_router]") {
  EndpointRouter router(EndpointPolicy::kFailover);
  CHECK(router.Pick({{true, 1000}, {true, 0}}) == 0);
  CHECK(router.Pick({{true, 1000}, {true, 0}}) == 0);
  CHECK(router.Pick({{false, 0}, {true, 50}, {true, 0}}) == 1);
}

TEST_CASE("no connected endpoint: no pick", "[client][endpoint_router]") {
  EndpointRouter spread(EndpointPolicy::kSpread);
  EndpointRouter failover(EndpointPolicy::kFailover);
  const std::vector<EndpointLoad> down = {{false, 0}, {false, 0}};
  CHECK(spread.Pick(down) == kNone);
  CHECK(failover.Pick(down) == kNone);
  CHECK(spread.Pick({}) == kNone);
}

TEST_CASE("an endpoint list splits at commas and trims each item", "[client][endpoint]") {
  std::vector<std::string> got;
  std::string error;
  REQUIRE(SplitEndpointList(" ipc:///a.sock ,\ttcp://node2:5555 ", &got, &error));
  CHECK(got == std::vector<std::string>{"ipc:///a.sock", "tcp://node2:5555"});
  REQUIRE(SplitEndpointList("tcp://h:1", &got, &error));
  CHECK(got == std::vector<std::string>{"tcp://h:1"});
}

TEST_CASE("empty lists, empty items and repeated items are refused, naming the item",
          "[client][endpoint]") {
  const std::map<std::string, std::string> bad = {
      {"", "no endpoint given"},
      {"   ", "no endpoint given"},
      {"ipc:///a,,ipc:///b", "endpoint 2 of 3 in the list is empty"},
      {"ipc:///a,", "endpoint 2 of 2 in the list is empty"},
      {",ipc:///a", "endpoint 1 of 2 in the list is empty"},
      {"ipc:///a, ipc:///a", "endpoint 'ipc:///a' is listed twice"},
  };
  for (const auto& [list, why] : bad) {
    INFO("list '" << list << "'");
    std::vector<std::string> got = {"untouched"};
    std::string error;
    CHECK_FALSE(SplitEndpointList(list, &got, &error));
    CHECK(error.find(why) != std::string::npos);
    CHECK(got == std::vector<std::string>{"untouched"});
  }
  std::vector<std::string> items;
  std::string error;
  CHECK_FALSE(CheckEndpointList(&items, &error));
  CHECK(error.find("no endpoint given") != std::string::npos);
  items = {"tcp://a:1", " "};
  CHECK_FALSE(CheckEndpointList(&items, &error));
  CHECK(error.find("endpoint 2 of 2 in the list is empty") != std::string::npos);
  items = {" tcp://a:1", "tcp://a:1 "};
  CHECK_FALSE(CheckEndpointList(&items, &error));
  CHECK(error.find("'tcp://a:1' is listed twice") != std::string::npos);
}

}  // namespace
}  // namespace imgsink
