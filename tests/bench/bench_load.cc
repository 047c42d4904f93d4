// bench_load: one client process pushing the benchmark tensor to imgsinkd as fast as the daemon
// takes it, speaking proto/PROTOCOL.md directly (credit, then save; done events counted).
//
//   bench_load --endpoint ipc:///tmp/x/d.sock --name c0 --tensor batch.f32 --shape 64,3,256,256
//              --mode each --format png [--window 2] [--seconds 10 | --count N]
//
// Why not imgsink::Client: the load generator must cost the machine as little as possible (the
// daemon shares its 2 cores with it), so it sends the one tensor buffer zero-copy again and
// again and does nothing else; it also keeps working while the client library changes.
// It keeps `window` jobs in flight (credit asked, or save sent and not done), so K loaders
// keep K x window jobs queued at the daemon.  Prints one JSON summary on stdout.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "bench_spec.h"
#include "imgsink/proto/formats.h"
#include "imgsink/proto/codec.h"
#include "imgsink/proto/shm.h"

namespace {

using Clock = std::chrono::steady_clock;
using imgsink::Status;
namespace bench = imgsink::bench;

struct Pending {
  uint64_t seq = 0;
  bool saved = false;    // the save was sent (else we wait for credit)
  bool acked = false;
  Clock::time_point asked, sent;
};

struct Totals {
  uint64_t sent = 0, acked = 0, done_ok = 0, failed = 0;
  std::map<std::string, uint64_t> refused;  // by error code
  std::vector<double> credit_wait_ms, ack_ms, done_ms;
  std::vector<double> done_at;  // CLOCK_MONOTONIC seconds of each successful done event
};

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(q * double(v.size())))];
}

class Loader {
 public:
  // `shm`: set, saves name the tensor's place in the registered segment instead of sending it.
  Loader(zmq::socket_t* socket, imgsink::SaveRequest base, const std::vector<uint8_t>* tensor,
         std::string name, int window, std::optional<imgsink::ShmRef> shm)
      : socket_(socket), base_(std::move(base)), tensor_(tensor), name_(std::move(name)),
        window_(window), shm_(shm) {}

  // Asks credit for the next job while fewer than `window` are in flight.
  void Fill() {
    while (int(pending_.size()) < window_) {
      imgsink::CreditRequest credit;
      credit.request_id = next_id_++;
      credit.bytes = tensor_->size();
      credit.timeout_ms = 120000;
      socket_->send(zmq::buffer(imgsink::EncodeClientMessage(credit)), zmq::send_flags::none);
      Pending& p = pending_[credit.request_id];
      p.seq = next_seq_++;
      p.asked = Clock::now();
    }
  }

  // Handles one daemon message.
  void OnMessage(const zmq::message_t& frame) {
    imgsink::ServerMessage msg;
    Status s = imgsink::DecodeServerMessage(frame.data(), frame.size(), &msg);
    if (!s.ok()) {
      ++totals_.refused["undecodable"];
      return;
    }
    if (auto* done = std::get_if<imgsink::DoneEvent>(&msg)) return OnDone(*done);
    const auto& reply = std::get<imgsink::Reply>(msg);
    auto it = pending_.find(reply.request_id);
    if (it == pending_.end()) return;
    Pending p = it->second;
    pending_.erase(it);
    if (!reply.status.ok()) {
      ++totals_.refused[std::string(imgsink::ErrorCodeName(reply.status.code()))];
      return;
    }
    if (!p.saved) return SendSave(p);
    ++totals_.acked;
    totals_.ack_ms.push_back(Ms(Clock::now() - p.sent));
    p.acked = true;
    pending_[reply.request_id] = p;  // now waiting for its done event
  }

  size_t in_flight() const { return pending_.size(); }
  const Totals& totals() const { return totals_; }

 private:
  void SendSave(Pending p) {
    const auto now = Clock::now();
    totals_.credit_wait_ms.push_back(Ms(now - p.asked));
    imgsink::SaveRequest save = base_;
    save.request_id = next_id_++;
    save.path = OutputPath(p.seq);
    save.shm = shm_;
    const std::string header = imgsink::EncodeClientMessage(save);
    socket_->send(zmq::buffer(header), zmq::send_flags::sndmore);
    if (shm_) {
      socket_->send(zmq::message_t(), zmq::send_flags::none);  // the bytes are in the segment
    } else {
      // Zero-copy: the buffer outlives the socket and is never written.
      zmq::message_t body(const_cast<uint8_t*>(tensor_->data()), tensor_->size(),
                          [](void*, void*) {}, nullptr);
      socket_->send(body, zmq::send_flags::none);
    }
    ++totals_.sent;
    p.saved = true;
    p.sent = now;
    pending_[save.request_id] = p;
  }

  void OnDone(const imgsink::DoneEvent& done) {
    auto it = pending_.find(done.request_id);
    if (it == pending_.end()) return;
    totals_.done_ms.push_back(Ms(Clock::now() - it->second.sent));
    pending_.erase(it);
    if (done.status.ok()) {
      ++totals_.done_ok;
      // steady_clock is CLOCK_MONOTONIC, the clock of Python's time.monotonic().
      totals_.done_at.push_back(
          std::chrono::duration<double>(Clock::now().time_since_epoch()).count());
    } else {
      ++totals_.failed;
      if (totals_.failed == 1) std::fprintf(stderr, "bench_load: %s\n", done.status.ToString().c_str());
    }
  }

  // Paths cycle through 2 x window slots, so disk use stays bounded and no two jobs in flight
  // share a path.
  std::string OutputPath(uint64_t seq) const {
    const std::string ext(*imgsink::FormatInfoOf(*base_.format).extensions.begin());
    const std::string slot = name_ + "/s" + std::to_string(seq % uint64_t(2 * window_));
    return base_.mode == imgsink::OutputMode::kGrid ? slot + ext : slot + "_{index:02d}" + ext;
  }

  zmq::socket_t* socket_;
  const imgsink::SaveRequest base_;
  const std::vector<uint8_t>* tensor_;
  const std::string name_;
  const int window_;
  const std::optional<imgsink::ShmRef> shm_;
  uint64_t next_id_ = 1, next_seq_ = 0;
  std::map<uint64_t, Pending> pending_;  // by the request id we wait on
  Totals totals_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"push the benchmark tensor to imgsinkd with credits, K of these in parallel"};
  bench::SpecFlags flags;
  bench::AddSpecFlags(&app, &flags);
  std::string endpoint, name = "c0";
  int window = 2;
  double seconds = 10, drain_seconds = 120;
  uint64_t count = 0;
  app.add_option("--endpoint", endpoint, "the daemon's endpoint")->required();
  app.add_option("--name", name, "client name: routing id and output folder");
  app.add_option("--window", window, "jobs in flight")->check(CLI::Range(1, 1000));
  app.add_option("--seconds", seconds, "push for this long");
  app.add_option("--count", count, "or push this many saves (0: use --seconds)");
  bool use_shm = false;
  app.add_option("--shm", use_shm,
                 "on: write the tensor once into a shared-memory segment registered with the "
                 "daemon and send only headers (PROTOCOL.md); off: the tensor in every frame");
  app.add_option("--drain-seconds", drain_seconds, "wait this long for jobs in flight at the end");
  CLI11_PARSE(app, argc, argv);

  imgsink::SaveRequest base;
  Status s = bench::ToSaveRequest(flags, &base);
  std::vector<uint8_t> tensor;
  if (s.ok()) s = bench::ReadTensorFile(flags.tensor_path, &tensor);
  if (!s.ok()) {
    std::fprintf(stderr, "bench_load: %s\n", s.ToString().c_str());
    return 2;
  }
  base.policy = imgsink::BusyPolicy::kBlock;

  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  std::string routing_id = "B" + name.substr(0, 15);
  routing_id.resize(16, '_');
  socket.set(zmq::sockopt::routing_id, routing_id);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::rcvtimeo, 50);
  socket.connect(endpoint);

  // The segment outlives the loader; its side connection stays open until we exit.
  imgsink::ShmSegment segment;
  std::optional<imgsink::ShmRef> shm;
  std::string shm_error;
  int shm_conn = -1;
  if (use_shm) {
    uint64_t token = 0;
    s = imgsink::ShmSegment::Create(tensor.size(), &segment);
    if (s.ok()) {
      std::copy(tensor.begin(), tensor.end(), segment.data());
      s = imgsink::ShmHello(imgsink::ShmSocketPath(endpoint), segment.fd(), 5000, &shm_conn, &token);
    }
    if (s.ok()) {
      shm = imgsink::ShmRef{token, 0};
    } else {
      shm_error = s.ToString();  // measured with frames then; the JSON says so
    }
  }

  Loader loader(&socket, base, &tensor, name, window, shm);
  const auto start = Clock::now();
  const double cpu0 = bench::ProcessCpuSeconds();
  auto pushing = [&] {
    if (count > 0) return loader.totals().sent + loader.in_flight() < count;
    return Ms(Clock::now() - start) < 1e3 * seconds;
  };
  Clock::time_point stop_at = Clock::time_point::max();
  while (true) {
    if (pushing()) {
      loader.Fill();
    } else if (stop_at == Clock::time_point::max()) {
      stop_at = Clock::now() + std::chrono::milliseconds(int64_t(1e3 * drain_seconds));
    }
    if (loader.in_flight() == 0 && !pushing()) break;
    if (Clock::now() > stop_at) break;
    zmq::message_t frame;
    if (socket.recv(frame, zmq::recv_flags::none)) loader.OnMessage(frame);
  }
  const Totals& t = loader.totals();
  nlohmann::json out = {{"name", name},
                        {"sent", t.sent},
                        {"acked", t.acked},
                        {"done_ok", t.done_ok},
                        {"failed", t.failed},
                        {"refused", t.refused},
                        {"lost", loader.in_flight()},
                        {"wall_s", Ms(Clock::now() - start) / 1e3},
                        {"cpu_s", bench::ProcessCpuSeconds() - cpu0},
                        {"credit_wait_ms_median", Quantile(t.credit_wait_ms, 0.5)},
                        {"ack_ms_median", Quantile(t.ack_ms, 0.5)},
                        {"done_ms_median", Quantile(t.done_ms, 0.5)},
                        {"done_ms_p90", Quantile(t.done_ms, 0.9)},
                        {"done_at", t.done_at},
                        {"shm", shm.has_value()},
                        {"shm_error", shm_error}};
  std::printf("%s\n", out.dump().c_str());
  return t.failed == 0 && loader.in_flight() == 0 ? 0 : 1;
}
