// imgsinkctl: operate a running imgsinkd (status, flush, watch) and make CURVE keys (keygen).
#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "daemon_link.h"
#include "imgsink/endpoint.h"

int main(int argc, char** argv) {
  using namespace imgsink::ctl;
  CLI::App app{"imgsinkctl: operate a running imgsinkd (status, flush, watch) and make CURVE keys.",
               "imgsinkctl"};
  app.footer(
      "Exit status: 0 ok; 1 the command failed (flush timed out, keygen could not write); "
      "2 no imgsinkd answered at the endpoint; 64 bad command line.");
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the subcommand

  std::string endpoint = imgsink::ClientDefaultEndpoint();
  double connect_timeout_s = 5;
  app.add_option("--endpoint", endpoint, "ZeroMQ endpoint of imgsinkd (one; not a list)")
      ->capture_default_str();
  app.add_option("--connect-timeout", connect_timeout_s,
                 "seconds to wait for the daemon to answer a status request")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  bool json = false;
  CLI::App* status = app.add_subcommand("status", "the daemon's counters");
  status->add_flag("--json", json, "one JSON object with every counter");

  double flush_timeout_s = 0;
  CLI::App* flush = app.add_subcommand(
      "flush", "wait until the daemon has nothing queued, in progress or retrying");
  flush->add_option("--timeout", flush_timeout_s, "give up (exit 1) after this many seconds; "
                                                  "0 = wait as long as it takes")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();

  double interval_s = 1;
  int count = 0;
  CLI::App* watch = app.add_subcommand(
      "watch", "a line per interval: throughput, queue, journal; progress while a backlog drains");
  watch->add_option("--interval", interval_s, "seconds between lines")
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  watch->add_option("--count", count, "stop after this many lines; 0 = until interrupted")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();

  std::string prefix;
  bool force = false;
  CLI::App* keygen = app.add_subcommand(
      "keygen", "write a CURVE keypair: PREFIX.key (secret, mode 0600) and PREFIX.pub (Z85 text)");
  keygen->add_option("--out", prefix, "path prefix of the two key files")->required();
  keygen->add_flag("--force", force, "replace existing key files");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // help to stdout, errors to stderr
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (keygen->parsed()) return RunKeygen(prefix, force);
  // Each command talks to one daemon.  IMGSINK_ENDPOINT may name several for training
  // processes (a client spreads over them); refuse a list rather than guess which one is meant.
  std::vector<std::string> endpoints;
  std::string error;
  if (!imgsink::SplitEndpointList(endpoint, &endpoints, &error)) {
    std::cerr << "imgsinkctl: bad --endpoint / IMGSINK_ENDPOINT: " << error << "\n";
    return kExitUsage;
  }
  if (endpoints.size() > 1) {
    std::cerr << "imgsinkctl: --endpoint / IMGSINK_ENDPOINT names " << endpoints.size()
              << " daemons ('" << endpoint << "'); imgsinkctl talks to one: run it once per "
              << "daemon, e.g. --endpoint " << endpoints[0] << "\n";
    return kExitUsage;
  }
  const Target target{endpoints[0],
                      std::chrono::milliseconds(std::lround(connect_timeout_s * 1000))};
  if (status->parsed()) return RunStatus(target, json);
  if (flush->parsed()) return RunFlush(target, flush_timeout_s);
  return RunWatch(target, interval_s, count);
}
