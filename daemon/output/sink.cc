#include "daemon/output/sink.h"

#include <string_view>

#include "daemon/output/local_sink.h"
#include "daemon/output/s3/s3_sink.h"

namespace imgsink::daemon {
namespace {

// The sinks by the scheme of --output-root ("s3" for "s3://bucket/prefix"; "" for a plain
// directory).  A new sink is one file and one row here.
struct SinkKind {
  std::string_view scheme;
  Status (*open)(const SinkOptions& options, std::unique_ptr<OutputSink>* out);
};
constexpr SinkKind kSinks[] = {
    {"", &OpenLocalSink},
    {"s3", &OpenS3Sink},
};

}  // namespace

Status OpenOutputSink(const SinkOptions& options, std::unique_ptr<OutputSink>* out) {
  const size_t colon = options.root.find("://");
  const std::string_view scheme =
      colon == std::string::npos ? std::string_view() : std::string_view(options.root).substr(0, colon);
  for (const SinkKind& kind : kSinks) {
    if (kind.scheme == scheme) return kind.open(options, out);
  }
  return Status(ErrorCode::kBadOption, "output root " + options.root + ": no sink for scheme \"" +
                                           std::string(scheme) + "://\"");
}

}  // namespace imgsink::daemon
