// In-memory forms of the messages of proto/PROTOCOL.md.  The codec (codec.h) maps them to and
// from bytes; nothing else in the system parses wire bytes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "imgsink/proto/status.h"
#include "imgsink/proto/types.h"

namespace imgsink {

// The protocol version this build speaks (PROTOCOL.md, "Versioning").
inline constexpr uint32_t kProtocolVersion = 1;

// torchvision.utils.make_grid / save_image options.  Defaults are torchvision's.
struct RenderOptions {
  int nrow = 8;
  int padding = 2;
  double pad_value = 0.0;
  bool normalize = false;
  std::optional<std::pair<double, double>> value_range;  // (low, high)
  bool scale_each = false;
  // Our extension: 1-channel input stays 1-channel (gray PNG/JPEG) instead of being
  // repeated to 3 channels as make_grid does.
  bool keep_gray = false;
  // Our extension: torch.utils.tensorboard's quantization instead of save_image's (types.h).
  Quantize quantize = Quantize::kSaveImage;
};

// The defaults are the "fast" preset: level 1 with the RLE strategy means ISA-L igzip (zlib level
// 6 retried on very compressible images) and `paeth` there means one filter per image chosen
// from none/sub/up/paeth (proto/PROTOCOL.md); about 20x the speed of PIL's default settings on
// natural images, files within +4 % of PIL's size on every measured content.  Pixels are the
// same either way.  Pil() gives PIL's settings (level 6, adaptive filter choice, default
// strategy), as torchvision.utils.save_image writes them.
struct PngOptions {
  int compress_level = 1;  // 0..9, zlib level
  int bit_depth = 8;       // 8 or 16
  PngFilter filter = PngFilter::kPaeth;
  PngStrategy strategy = PngStrategy::kRle;

  static PngOptions Fast() { return PngOptions(); }
  static PngOptions Pil() { return PngOptions{6, 8, PngFilter::kAll, PngStrategy::kDefault}; }
};

struct JpegOptions {
  int quality = 75;  // 1..100; 75 is PIL's default
  JpegSubsampling subsampling = JpegSubsampling::k420;  // PIL's default
};

// PIL's WebP defaults (lossy, quality 80).  Lossless keeps every pixel; quality then sets the
// compression effort, as in libwebp and PIL.
struct WebpOptions {
  bool lossless = false;
  int quality = 80;  // 0..100
};

// What happens when the daemon has no room for the job: the client sends it with each credit
// request, and the daemon's credit ledger (daemon/admission/credit_ledger.h) waits up to the
// timeout (kBlock) or refuses at once with `busy` (kDrop, counted as dropped; kError).
enum class BusyPolicy : uint8_t { kBlock, kDrop, kError };

// A save whose image goes to a TensorBoard event file (key "tb", PROTOCOL.md "TensorBoard"):
// the request's path is then the run directory (resolved like an output path, with
// --tensorboard-logdir as the root), and the image becomes one image summary in an Event of
// that run.
struct TensorBoardImage {
  std::string tag;         // Summary.Value.tag
  int64_t step = 0;        // Event.step (global_step)
  double wall_time = 0.0;  // Event.wall_time, seconds since the epoch (the client's call)
};

// Where a save's tensor bytes lie when they are handed over in shared memory instead of the
// tensor frame (PROTOCOL.md "Shared-memory hand-off"): a segment the client registered with the
// daemon over the side socket, and the byte offset of the tensor in it.
struct ShmRef {
  uint64_t segment = 0;  // the daemon's token for the segment (from the side socket's reply)
  uint64_t offset = 0;   // the tensor is [offset, offset + its byte size) of the segment
  bool operator==(const ShmRef& o) const { return segment == o.segment && offset == o.offset; }
};

// kind "save": render and write one tensor.  The tensor bytes travel in their own frame, or
// (shm set) in a shared-memory segment, the frame then empty.
struct SaveRequest {
  uint64_t request_id = 0;  // chosen by the client; echoed in the reply and the done event
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  Layout layout = Layout::kNCHW;
  // The output path as the caller wrote it (a template: PROTOCOL.md "Paths"); relative or
  // absolute, resolved by the daemon's path mode (imgsink/proto/paths.h ResolveOutputPath).
  std::string path;
  // The caller's working directory when `path` is relative (absolute), else "" (key omitted).
  std::string cwd;
  std::optional<OutputFormat> format;  // absent: inferred from the path's extension
  OutputMode mode = OutputMode::kGrid;
  RenderOptions render;
  PngOptions png;
  JpegOptions jpeg;
  WebpOptions webp;
  BusyPolicy policy = BusyPolicy::kBlock;
  uint32_t block_timeout_ms = 30000;  // how long kBlock may wait for room
  std::map<std::string, std::string> metadata;  // free tags (step, rank, ...)
  std::optional<TensorBoardImage> tensorboard;  // set: an image summary, not a file
  std::optional<ShmRef> shm;  // set: the tensor bytes are in shared memory, not in the frame
};

// kind "status": ask for the daemon's counters.
struct StatusRequest {
  uint64_t request_id = 0;
};

// kind "credit": ask for room to send `bytes` more tensor bytes (PROTOCOL.md "Flow control").
// The daemon answers when the room is reserved for this client, or with busy: at once for
// kDrop/kError, after timeout_ms for kBlock.
struct CreditRequest {
  uint64_t request_id = 0;
  uint64_t bytes = 0;  // >= 1
  BusyPolicy policy = BusyPolicy::kBlock;
  uint32_t timeout_ms = 30000;
};

using ClientMessage = std::variant<SaveRequest, StatusRequest, CreditRequest>;

// The one reply to each request.
struct Reply {
  uint64_t request_id = 0;
  Status status;             // !ok: the request was refused and nothing else will follow
  uint64_t job_id = 0;       // save accepted: the daemon's id of the job
  std::map<std::string, uint64_t> counters;  // status reply: counters by name (never empty)
  uint64_t credit = 0;       // credit reply: bytes granted (>= 1)
};

// Sent once per accepted save when the job has ended (written or failed).
struct DoneEvent {
  uint64_t request_id = 0;
  uint64_t job_id = 0;
  Status status;  // ok: every output file is durable
};

using ServerMessage = std::variant<Reply, DoneEvent>;

}  // namespace imgsink
