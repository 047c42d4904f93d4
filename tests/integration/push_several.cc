// push_several: a C++ client with several endpoints, driven line by line, for the integration
// tests of spread / failover against real daemons:
//   push_several --endpoint "E1,E2" [--policy spread|failover]
// First waits until every endpoint answers a status request, then prints "ready".  Each stdin
// line "<count> <prefix>" saves <count> 3x8x8 uint8 images to <prefix>/<i>.png at once, waits for
// them all, and prints one line per job: "<path> <ok|error code> <endpoint>", then "done".
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "imgsink/client.h"

int main(int argc, char** argv) {
  std::string endpoint;
  imgsink::ClientOptions options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--endpoint") endpoint = value;
    if (flag == "--policy" && value == "failover") {
      options.endpoint_policy = imgsink::EndpointPolicy::kFailover;
    }
  }
  std::unique_ptr<imgsink::Client> client;
  imgsink::Status s = imgsink::Client::Open(endpoint, options, &client);
  for (size_t i = 0; s.ok() && i < client->endpoints().size(); ++i) {
    std::map<std::string, uint64_t> counters;
    s = client->status(client->endpoints()[i], &counters, std::chrono::seconds(10));
  }
  if (!s.ok()) {
    std::cerr << "push_several: " << s.ToString() << "\n";
    return 1;
  }
  std::cout << "ready" << std::endl;
  std::vector<uint8_t> pixels(3 * 8 * 8);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 7);
  imgsink::TensorView view{pixels.data(), imgsink::DType::kUint8, {3, 8, 8},
                           imgsink::Layout::kCHW};
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    int count = 0;
    std::string prefix;
    if (!(in >> count >> prefix)) continue;
    std::vector<std::pair<std::string, imgsink::Job>> jobs;
    for (int i = 0; i < count; ++i) {
      const std::string path = prefix + "/" + std::to_string(i) + ".png";
      jobs.emplace_back(path, client->save_image(view, path));
    }
    for (auto& [path, job] : jobs) {
      const imgsink::Status done = job.wait(std::chrono::seconds(60));
      std::cout << path << " " << (done.ok() ? "ok" : imgsink::ErrorCodeName(done.code())) << " "
                << job.endpoint() << "\n";
    }
    std::cout << "done" << std::endl;
  }
  return 0;
}
