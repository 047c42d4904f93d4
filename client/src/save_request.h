// Turns save_image's arguments into a wire SaveRequest, checking locally what the client can
// know without the daemon, so obviously bad calls fail at once with a clear Status.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "imgsink/client.h"
#include "imgsink/proto/messages.h"
#include "imgsink/proto/status.h"

namespace imgsink {
namespace internal {

// Fills *request (with request_id 0) and sets *tensor_bytes.  Returns OK, or the first problem:
// the tensor (ValidateTensorView), the path template with the metadata (kBadPath: the daemon's
// rule, imgsink/proto/paths.h CheckSavePath), a format that cannot be inferred (kBadFormat), an
// option out of range or metadata over the protocol's limits (kBadOption), as the daemon would
// say.  The daemon checks everything again.
// REQUIRES: request, tensor_bytes non-null.
Status BuildSaveRequest(const TensorView& tensor, std::string path, const SaveOptions& options,
                        SaveRequest* request, size_t* tensor_bytes);

}  // namespace internal
}  // namespace imgsink
