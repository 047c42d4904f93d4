#include "daemon/socket/zap_handler.h"

#include <dirent.h>
#include <sys/stat.h>

#include <fstream>
#include <vector>

#include "daemon/log/log.h"

namespace imgsink::daemon {
namespace {

std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

// Returns true iff `z85` is a 40-character Z85 key; sets *binary to its 32 bytes.
bool DecodeKey(const std::string& z85, std::string* binary) {
  if (z85.size() != 40) return false;
  uint8_t out[32];
  if (zmq_z85_decode(out, z85.c_str()) == nullptr) return false;
  binary->assign(reinterpret_cast<const char*>(out), sizeof out);
  return true;
}

Status LoadKeysFromFile(const std::string& path, std::set<std::string>* keys) {
  std::ifstream in(path);
  if (!in) return Status(ErrorCode::kBadOption, "cannot read key file " + path);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    line = Trim(line);
    if (line.empty() || line[0] == '#') continue;
    std::string binary;
    if (!DecodeKey(line, &binary)) {
      return Status(ErrorCode::kBadOption, path + ":" + std::to_string(n) +
                                               ": not a Z85 CURVE key (40 characters)");
    }
    keys->insert(binary);
  }
  return Status::OK();
}

}  // namespace

Status LoadPublicKeys(const std::string& path, std::set<std::string>* keys) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status(ErrorCode::kBadOption, "no such key file " + path);
  if (!S_ISDIR(st.st_mode)) return LoadKeysFromFile(path, keys);
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return Status(ErrorCode::kBadOption, "cannot list " + path);
  std::vector<std::string> files;
  while (dirent* e = ::readdir(dir)) {
    const std::string name = e->d_name;
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".pub") == 0) files.push_back(name);
  }
  ::closedir(dir);
  for (const std::string& name : files) {
    Status s = LoadKeysFromFile(path + "/" + name, keys);
    if (!s.ok()) return s;
  }
  return Status::OK();
}

Status LoadKeyFile(const std::string& path, std::string* z85) {
  std::set<std::string> keys;
  Status s = LoadKeysFromFile(path, &keys);
  if (!s.ok()) return s;
  if (keys.size() != 1) return Status(ErrorCode::kBadOption, path + " must hold exactly one key");
  char text[41];
  zmq_z85_encode(text, reinterpret_cast<const uint8_t*>(keys.begin()->data()), 32);
  *z85 = text;
  return Status::OK();
}

ZapHandler::ZapHandler(zmq::context_t* context, std::set<std::string> allowed_keys)
    : context_(context), allowed_(std::move(allowed_keys)) {}

ZapHandler::~ZapHandler() { Stop(); }

Status ZapHandler::Start() {
  try {
    socket_ = zmq::socket_t(*context_, zmq::socket_type::rep);
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind("inproc://zeromq.zap.01");
  } catch (const zmq::error_t& e) {
    return Status(ErrorCode::kInternal, std::string("ZAP handler: ") + e.what());
  }
  thread_ = std::thread([this] { Run(); });
  return Status::OK();
}

void ZapHandler::Stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  thread_.join();
  socket_.close();
}

void ZapHandler::Run() {
  // RFC 27: request = version, request id, domain, address, identity, mechanism, credentials...;
  // reply = version, request id, status code, status text, user id, metadata.
  while (!stopping_) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(100));
    if (!(item.revents & ZMQ_POLLIN)) continue;
    std::vector<zmq::message_t> request;
    do {
      request.emplace_back();
      [[maybe_unused]] auto got = socket_.recv(request.back(), zmq::recv_flags::none);
    } while (socket_.get(zmq::sockopt::rcvmore));
    bool ok = false;
    std::string mechanism, address;
    if (request.size() >= 6) {
      address = request[3].to_string();
      mechanism = request[5].to_string();
      ok = mechanism == "NULL" ||
           (mechanism == "CURVE" && request.size() == 7 && allowed_.count(request[6].to_string()));
    }
    if (!ok) {
      ++denied_;
      LogWarning("refused a " + mechanism + " client from " + address + ": key not allowed");
    }
    const std::string version = request.empty() ? "1.0" : request[0].to_string();
    const std::string id = request.size() > 1 ? request[1].to_string() : "";
    socket_.send(zmq::buffer(version), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(id), zmq::send_flags::sndmore);
    const std::string code = ok ? "200" : "400";
    const std::string text = ok ? "OK" : "key not allowed";
    socket_.send(zmq::buffer(code), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(text), zmq::send_flags::sndmore);
    socket_.send(zmq::str_buffer(""), zmq::send_flags::sndmore);
    socket_.send(zmq::str_buffer(""), zmq::send_flags::none);
  }
}

}  // namespace imgsink::daemon
