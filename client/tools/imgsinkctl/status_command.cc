// imgsinkctl status: the daemon's counters, for people (a table) or scripts (--json).
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "daemon_link.h"
#include "format.h"

namespace imgsink {
namespace ctl {
namespace {

// The counters shown one per row, in this order; the rest go under "other".
const char* const kRows[][2] = {
    {"queued", "queued"},
    {"in_progress", "in progress"},
    {"retrying", "retrying"},
    {"accepted", "accepted"},
    {"written", "written"},
    {"failed", "failed"},
    {"replayed", "replayed"},
    {"dropped", "dropped"},
    {"busy", "busy"},
    {"credit_waiting", "credit waiting"},
    {"requests", "requests"},
    {"rejected", "refused"},
    {"files_written", "files written"},
};
// Shown as byte sizes (or folded into the memory/journal rows).
const char* const kByteKeys[] = {"bytes_received", "bytes_written", "memory_bytes",
                                 "memory_budget",  "journal_bytes", "journal_budget"};

bool IsClientKey(const std::string& key, std::string* client) {
  const std::string prefix = "client.", suffix = ".in_flight";
  if (key.size() <= prefix.size() + suffix.size() || key.rfind(prefix, 0) != 0 ||
      key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return false;
  }
  *client = key.substr(prefix.size(), key.size() - prefix.size() - suffix.size());
  return true;
}

// Returns true iff `key` is an output's own counter, "sink.<n>.<name>"; sets *sink, *name.
bool IsSinkKey(const std::string& key, std::string* sink, std::string* name) {
  const std::string prefix = "sink.";
  const size_t dot = key.find('.', prefix.size());
  if (key.rfind(prefix, 0) != 0 || dot == std::string::npos || dot == prefix.size() ||
      dot + 1 == key.size()) {
    return false;
  }
  *sink = key.substr(prefix.size(), dot - prefix.size());
  *name = key.substr(dot + 1);
  return true;
}

// "  label           value": values line up after 16 columns; a longer label gets two spaces.
void Row(std::ostream& out, const std::string& label, const std::string& value) {
  constexpr size_t kWidth = 16;
  const size_t pad = label.size() + 2 > kWidth ? 2 : kWidth - label.size();
  out << "  " << label << std::string(pad, ' ') << value << "\n";
}

std::string OfBudget(uint64_t used, uint64_t budget) {
  if (budget == 0) return HumanBytes(used) + " (no budget)";
  return HumanBytes(used) + " of " + HumanBytes(budget) + " (" + Percent(used, budget) + ")";
}

void PrintTable(const std::string& endpoint, const Counters& c, std::ostream& out) {
  out << "imgsinkd at " << endpoint << "\n";
  std::set<std::string> shown;
  for (const auto& row : kRows) {
    if (c.count(row[0]) == 0) continue;
    Row(out, row[1], std::to_string(c.at(row[0])));
    shown.insert(row[0]);
  }
  if (c.count("output_blocked") != 0) {
    // A condition that can pass (disk full, EIO, store down) holds the accepted jobs back
    // and stops new credit until a write succeeds.
    const uint64_t err = Get(c, "output_blocked_errno");
    Row(out, "output", Get(c, "output_blocked") == 0
                           ? "writing"
                           : "BLOCKED" + (err != 0 ? " (errno " + std::to_string(err) + ")" : std::string()) +
                                 ": jobs wait, no new credit");
    shown.insert("output_blocked");
    shown.insert("output_blocked_errno");
  }
  Row(out, "memory", OfBudget(Get(c, "memory_bytes"), Get(c, "memory_budget")));
  if (Get(c, "journal_budget") == 0 && Get(c, "journal_bytes") == 0) {
    Row(out, "journal", "off");
  } else {
    Row(out, "journal", OfBudget(Get(c, "journal_bytes"), Get(c, "journal_budget")));
  }
  Row(out, "bytes received", HumanBytes(Get(c, "bytes_received")));
  Row(out, "bytes written", HumanBytes(Get(c, "bytes_written")));
  shown.insert(std::begin(kByteKeys), std::end(kByteKeys));
  shown.insert({"clients_not_shown", "in_flight_not_shown"});

  std::ostringstream clients, other;
  std::map<std::string, Counters> sinks;  // "1" -> {"s3_backlog_requests": 3, ...}
  for (const auto& [key, value] : c) {
    std::string client, sink, name;
    if (IsClientKey(key, &client)) {
      Row(clients, "  " + client, std::to_string(value));
    } else if (IsSinkKey(key, &sink, &name)) {
      sinks[sink][name] = value;
    } else if (shown.count(key) == 0) {
      Row(other, "  " + key, std::to_string(value));
    }
  }
  // The daemon names at most a few dozen clients (p<N>: its own numbers) and counts the rest.
  if (Get(c, "clients_not_shown") > 0) {
    Row(clients, "  (" + std::to_string(Get(c, "clients_not_shown")) + " more)",
        std::to_string(Get(c, "in_flight_not_shown")));
  }
  // Each output's backlog (0: --output-root, 1...: each --output, in order): one store that is
  // slow or down shows here although the others keep up.
  for (const auto& [sink, own] : sinks) {
    std::string row = std::to_string(Get(own, "s3_backlog_requests")) + " requests, " +
                      HumanBytes(Get(own, "s3_in_flight_bytes")) + " in flight; " +
                      std::to_string(Get(own, "s3_objects")) + " objects, " +
                      std::to_string(Get(own, "s3_retries")) + " retries, " +
                      std::to_string(Get(own, "s3_request_failures")) + " failed";
    Row(out, "output " + sink + " backlog", row);
  }
  out << "  in flight by client:" << (clients.str().empty() ? " none\n" : "\n" + clients.str());
  if (!other.str().empty()) out << "  other:\n" << other.str();
}

}  // namespace

int RunStatus(const Target& target, bool json) {
  std::unique_ptr<DaemonLink> link;
  Status s = DaemonLink::Open(target.endpoint, target.timeout, &link);
  Counters counters;
  if (s.ok()) s = link->Fetch(&counters);
  if (!s.ok()) return ReportFetchError(target.endpoint, s);
  if (json) {
    std::cout << nlohmann::json(counters).dump(2) << "\n";
  } else {
    PrintTable(target.endpoint, counters, std::cout);
  }
  return kExitOk;
}

}  // namespace ctl
}  // namespace imgsink
