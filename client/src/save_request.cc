#include "save_request.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>

#include "imgsink/proto/paths.h"

#include "imgsink/proto/formats.h"

namespace imgsink {
namespace internal {
namespace {

// proto/PROTOCOL.md, "Limits".
constexpr size_t kMaxStringBytes = 4096;
constexpr size_t kMaxMetadataEntries = 64;

Status BadOption(const std::string& what) { return Status(ErrorCode::kBadOption, what); }

Status CheckRenderOptions(const RenderOptions& r) {
  if (r.nrow < 1) return BadOption("nrow must be >= 1, got " + std::to_string(r.nrow));
  if (r.padding < 0) return BadOption("padding must be >= 0, got " + std::to_string(r.padding));
  if (!std::isfinite(r.pad_value)) return BadOption("pad_value must be finite");
  if (r.value_range.has_value() &&
      !(std::isfinite(r.value_range->first) && std::isfinite(r.value_range->second))) {
    return BadOption("value_range must be finite");
  }
  return Status::OK();
}

Status CheckEncoderOptions(const PngOptions& png, const JpegOptions& jpeg,
                           const WebpOptions& webp) {
  if (png.compress_level < 0 || png.compress_level > 9) {
    return BadOption("png compress_level must be in 0..9, got " +
                     std::to_string(png.compress_level));
  }
  if (png.bit_depth != 8 && png.bit_depth != 16) {
    return BadOption("png bit_depth must be 8 or 16, got " + std::to_string(png.bit_depth));
  }
  if (jpeg.quality < 1 || jpeg.quality > 100) {
    return BadOption("jpeg quality must be in 1..100, got " + std::to_string(jpeg.quality));
  }
  if (webp.quality < 0 || webp.quality > 100) {
    return BadOption("webp quality must be in 0..100, got " + std::to_string(webp.quality));
  }
  return Status::OK();
}

Status CheckMetadata(const std::map<std::string, std::string>& metadata) {
  if (metadata.size() > kMaxMetadataEntries) {
    return Status(ErrorCode::kBadOption, "metadata has " + std::to_string(metadata.size()) +
                                              " entries; at most 64 are allowed");
  }
  for (const auto& [key, value] : metadata) {
    if (key.size() > kMaxStringBytes || value.size() > kMaxStringBytes) {
      return Status(ErrorCode::kBadOption,
                    "metadata key or value over 4096 bytes (key '" + key.substr(0, 64) + "')");
    }
  }
  return Status::OK();
}

// The process's working directory now, or "" when it cannot be named (removed, or longer than
// a save header may carry): the daemon then resolves relative paths beneath its first root.
std::string CurrentDirectory() {
  std::string buffer(kMaxPathBytes + 1, '\0');
  if (getcwd(buffer.data(), buffer.size()) == nullptr || buffer[0] != '/') return std::string();
  buffer.resize(std::strlen(buffer.c_str()));
  return buffer;
}

}  // namespace

Status BuildSaveRequest(const TensorView& tensor, std::string path, const SaveOptions& options,
                        SaveRequest* request, size_t* tensor_bytes) {
  size_t bytes = 0;
  Status s = ValidateTensorView(tensor, &bytes);
  if (!s.ok()) return s;
  s = CheckSavePath(path, options.mode, options.metadata);
  if (!s.ok()) return s;
  OutputFormat format = OutputFormat::kPng;
  if (options.tensorboard) {  // the path is a run directory (PROTOCOL.md "TensorBoard")
    if ((options.format && *options.format != OutputFormat::kPng) ||
        options.mode != OutputMode::kGrid || options.tensorboard->tag.empty() ||
        options.render.quantize != Quantize::kTensorBoard) {
      return Status(ErrorCode::kBadOption, "a TensorBoard image needs format png, mode grid, a "
                                           "tag and quantize tensorboard (SaveOptions::ForTensorBoard)");
    }
  } else if (!ResolveOutputFormat(options.format, path, &format)) {
    return Status(ErrorCode::kBadFormat, "cannot infer the format from path '" +
                                             path.substr(0, 256) + "' (use " + KnownExtensions() +
                                             " or set SaveOptions::format)");
  }
  s = CheckRenderOptions(options.render);
  if (s.ok()) s = CheckEncoderOptions(options.png, options.jpeg, options.webp);
  if (s.ok()) s = CheckMetadata(options.metadata);
  if (!s.ok()) return s;

  request->request_id = 0;
  request->dtype = tensor.dtype;
  request->shape = tensor.shape;
  request->layout = tensor.layout;
  // A relative path is the caller's: the daemon's path mode decides whether it is relative to
  // this working directory or to its first output root (PROTOCOL.md "Paths").
  request->cwd = path.front() == '/' ? std::string() : CurrentDirectory();
  request->path = std::move(path);
  request->format = options.format;
  request->mode = options.mode;
  request->render = options.render;
  request->png = options.png;
  request->jpeg = options.jpeg;
  request->webp = options.webp;
  request->policy = options.policy;
  request->block_timeout_ms = options.block_timeout_ms;
  request->metadata = options.metadata;
  request->tensorboard = options.tensorboard;
  *tensor_bytes = bytes;
  return Status::OK();
}

}  // namespace internal

SaveOptions SaveOptions::ForTensorBoard(std::string tag, int64_t step, double wall_time) {
  SaveOptions o;
  o.format = OutputFormat::kPng;
  o.render.nrow = 8;
  o.render.padding = 0;
  o.render.quantize = Quantize::kTensorBoard;
  if (wall_time < 0) {
    wall_time = std::chrono::duration<double>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  }
  o.tensorboard = TensorBoardImage{std::move(tag), step, wall_time};
  return o;
}

}  // namespace imgsink
