// s3_request_tool: sends one request through S3Client, for the Python tests (the SigV4 check
// against botocore, and the fault proxy).  Credentials and endpoint as the daemon takes them
// (AWS_* variables).
//   s3_request_tool BUCKET METHOD KEY [--query Q] [--body-file F] [--date YYYYMMDDTHHMMSSZ]
//                   [--addressing path|virtual] [--content-type T] [--tries N]
// Prints "http <status> tries <n> etag <etag>" and the status line, then the body; exits 0 iff
// the request succeeded.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/output/s3/s3_client.h"

using namespace imgsink;
using namespace imgsink::daemon;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: s3_request_tool BUCKET METHOD KEY [options]\n";
    return 2;
  }
  S3Settings settings;
  S3Request request;
  const std::string bucket = argv[1];
  request.method = argv[2];
  request.key = argv[3];
  std::string body;
  std::string addressing = "auto";
  settings.first_retry_ms = 10;
  settings.max_retry_ms = 50;
  for (int i = 4; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--query") {
      request.query = value;
    } else if (flag == "--body-file") {
      std::ifstream in(value, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      body = ss.str();
    } else if (flag == "--date") {
      settings.fixed_date = value;
    } else if (flag == "--addressing") {
      addressing = value;
    } else if (flag == "--content-type") {
      request.content_type = value;
    } else if (flag == "--tries") {
      settings.tries = std::stoi(value);
    } else {
      std::cerr << "s3_request_tool: unknown option " << flag << "\n";
      return 2;
    }
  }
  request.body = reinterpret_cast<const uint8_t*>(body.data());
  request.body_size = body.size();
  Status s = ParseS3Addressing(addressing, &settings.addressing);
  if (s.ok()) s = ResolveS3Settings(&settings);
  std::unique_ptr<S3Client> client;
  if (s.ok()) s = S3Client::Open(settings, bucket, &client);
  if (!s.ok()) {
    std::cerr << "s3_request_tool: " << s.ToString() << "\n";
    return 2;
  }
  std::vector<S3Response> answers;
  client->Run({request}, &answers);
  const S3Response& a = answers[0];
  std::cout << "http " << a.http_status << " tries " << a.tries << " etag " << a.etag << "\n"
            << a.status.ToString() << "\n"
            << a.body << std::flush;
  return a.status.ok() ? 0 : 1;
}
