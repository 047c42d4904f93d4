// Uses the installed imgsink C++ client the way a training program would, with no daemon
// running.  Usage: imgsink_consumer ENDPOINT   (an ipc:// endpoint nobody listens on)
// Exits 0 iff every call behaves as client.h documents; prints what it saw.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "imgsink/client.h"
#include "imgsink/endpoint.h"
#include "imgsink/proto/status.h"

namespace {

bool Expect(bool ok, const char* what, const imgsink::Status& s) {
  std::printf("%s %s: %s\n", ok ? "ok  " : "FAIL", what, s.ToString().c_str());
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s ENDPOINT\n", argv[0]);
    return 2;
  }
  std::printf("default endpoint: %s\n", imgsink::DefaultEndpoint().c_str());

  imgsink::ClientOptions client_options;
  client_options.connect_timeout = std::chrono::milliseconds(200);
  std::unique_ptr<imgsink::Client> client;
  imgsink::Status s = imgsink::Client::Open(argv[1], client_options, &client);
  // A daemon that is not running is not an error for Open.
  if (!Expect(s.ok() && client != nullptr, "Open", s)) return 1;

  imgsink::SaveOptions options;
  options.render.normalize = true;
  options.render.value_range = std::make_pair(-1.0, 1.0);
  options.metadata["step"] = "100";

  // Checked locally, before anything is sent: null data is kBadRequest.
  imgsink::TensorView empty{nullptr, imgsink::DType::kFloat32, {1, 3, 2, 2},
                            imgsink::Layout::kNCHW};
  s = client->save_image(empty, "consumer/null.png", options).wait();
  bool ok = Expect(s.code() == imgsink::ErrorCode::kBadRequest, "save_image(null data)", s);

  // A valid request waits connect_timeout for a daemon, then fails kDisconnected.
  std::vector<float> pixels(1 * 3 * 2 * 2, 0.5f);
  imgsink::TensorView view{pixels.data(), imgsink::DType::kFloat32, {1, 3, 2, 2},
                           imgsink::Layout::kNCHW};
  imgsink::Job job = client->save_image(view, "consumer/grid.png", options);
  s = job.wait();
  ok &= Expect(s.code() == imgsink::ErrorCode::kDisconnected, "save_image(no daemon)", s);
  return ok ? 0 : 1;
}
