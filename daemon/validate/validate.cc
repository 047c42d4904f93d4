#include "daemon/validate/validate.h"

#include <algorithm>
#include <string>

#include "daemon/encode/encoder.h"
#include "daemon/encode/text_metadata.h"
#include "daemon/output/manifest.h"
#include "daemon/output/output_root.h"
#include "daemon/render/render.h"
#include "imgsink/proto/formats.h"
#include "imgsink/proto/paths.h"

namespace imgsink::daemon {
namespace {

Status CheckShape(const SaveRequest& req, size_t payload_size, const ValidationLimits& limits) {
  if (req.shape.size() != size_t(LayoutRank(req.layout))) {
    return Status(ErrorCode::kBadShape, "layout " + std::string(LayoutName(req.layout)) +
                                            " needs " + std::to_string(LayoutRank(req.layout)) +
                                            " dims, shape has " + std::to_string(req.shape.size()));
  }
  uint64_t bytes = DTypeSize(req.dtype);
  for (int64_t dim : req.shape) {
    if (dim < 1) return Status(ErrorCode::kBadShape, "every dim must be >= 1");
    if (__builtin_mul_overflow(bytes, uint64_t(dim), &bytes)) {
      return Status(ErrorCode::kBadShape, "shape overflows: product of dims x itemsize > 2^64");
    }
  }
  if (bytes > limits.max_request_bytes) {
    return Status(ErrorCode::kTooLarge, "tensor of " + std::to_string(bytes) +
                                            " bytes is over the limit of " +
                                            std::to_string(limits.max_request_bytes));
  }
  if (bytes != payload_size) {
    return Status(ErrorCode::kSizeMismatch,
                  "shape and dtype give " + std::to_string(bytes) + " bytes, tensor frame has " +
                      std::to_string(payload_size));
  }
  return Status::OK();
}

Status CheckOutputGeometry(const SaveRequest& req, const ValidationLimits& limits,
                           SavePlan* plan) {
  int64_t width = plan->w, height = plan->h;
  if (req.mode == OutputMode::kGrid && plan->n > 1) {
    const int64_t p = req.render.padding;
    const int64_t xmaps = std::min<int64_t>(req.render.nrow, plan->n);
    const int64_t ymaps = (plan->n + xmaps - 1) / xmaps;
    if (__builtin_mul_overflow(xmaps, plan->w + p, &width) || __builtin_add_overflow(width, p, &width) ||
        __builtin_mul_overflow(ymaps, plan->h + p, &height) || __builtin_add_overflow(height, p, &height)) {
      return Status(ErrorCode::kTooLarge, "grid size overflows");
    }
  }
  int64_t pixels = 0;
  if (__builtin_mul_overflow(width, height, &pixels) || uint64_t(pixels) > limits.max_pixels_per_image) {
    return Status(ErrorCode::kTooLarge,
                  "output image " + std::to_string(width) + "x" + std::to_string(height) +
                      " is over the limit of " + std::to_string(limits.max_pixels_per_image) +
                      " pixels");
  }
  const FormatInfo& format = FormatInfoOf(plan->format);
  if (width > format.max_dimension || height > format.max_dimension) {
    return Status(ErrorCode::kTooLarge, std::string(format.name) + " images are at most " +
                                            std::to_string(format.max_dimension) +
                                            " pixels wide and high");
  }
  plan->out_width = width;
  plan->out_height = height;
  plan->files = req.mode == OutputMode::kEach ? plan->n : 1;
  if (uint64_t(plan->files) > limits.max_files_per_request) {
    return Status(ErrorCode::kTooLarge,
                  "a save of " + std::to_string(plan->files) + " files (mode each) is over the "
                  "limit of " + std::to_string(limits.max_files_per_request) +
                  " files per request (--max-files-per-request): split the batch");
  }
  // No overflow: pixels <= 2^63 was checked and is bounded by max_pixels_per_image; 4 channels
  // x 2 bytes x files stays far below 2^64 for any sane limit, and is checked anyway.
  const uint64_t image_bytes = uint64_t(pixels) * uint64_t(plan->out_channels) *
                               uint64_t(plan->bit_depth / 8);
  uint64_t rendered = 0;
  if (__builtin_mul_overflow(image_bytes, uint64_t(plan->files), &rendered)) {
    return Status(ErrorCode::kTooLarge, "rendered size overflows");
  }
  // Encoding one image holds its encoded bytes (at worst about its raw size for PNG, plus a
  // filter byte per row) next to the rendered images.
  const uint64_t encode_room = image_bytes + uint64_t(height);
  plan->footprint_bytes = rendered + encode_room;
  // An upload holds the encoded files of a batch at once until the server confirms them.
  plan->copy_room_bytes = 0;
  if (limits.staged_copies > 0 && !req.tensorboard) {
    const uint64_t copied_files =
        std::min<uint64_t>(uint64_t(plan->files), std::max<uint64_t>(limits.staged_files, 1)) - 1;
    plan->copy_room_bytes = std::min(copied_files * encode_room, limits.max_copy_room_bytes);
    plan->footprint_bytes += uint64_t(limits.staged_copies) * plan->copy_room_bytes;
  }
  return Status::OK();
}

Status CheckChannelsAndDtype(const SaveRequest& req, SavePlan* plan) {
  if (plan->c < 1 || plan->c > 4) {
    return Status(ErrorCode::kBadShape, "images must have 1 to 4 channels, got " + std::to_string(plan->c));
  }
  plan->out_channels = (plan->c == 1 && !req.render.keep_gray) ? 3 : int(plan->c);
  const FormatInfo& format = FormatInfoOf(plan->format);
  if (!format.alpha && (plan->out_channels == 2 || plan->out_channels == 4)) {
    return Status(ErrorCode::kBadFormat,
                  std::string(format.name) + " cannot hold an alpha channel (" +
                      std::to_string(plan->out_channels) + " channels); save as png");
  }
  if (req.dtype == DType::kUint8 && (req.render.normalize || req.render.value_range)) {
    return Status(ErrorCode::kBadOption, "uint8 input is already quantized: normalize and "
                                         "value_range are not allowed");
  }
  const int bit_depth = OutputBitDepth(plan->format, req);
  plan->bit_depth = bit_depth < 8 ? 8 : bit_depth;  // what the canvas holds per sample
  if (bit_depth > format.max_bit_depth) {  // a format's options cannot ask for more than it holds
    return Status(ErrorCode::kBadOption, std::string(format.name) + " holds at most " +
                                             std::to_string(format.max_bit_depth) + "-bit samples");
  }
  if (req.dtype == DType::kUint16 && bit_depth != 16 && req.render.quantize != Quantize::kTensorBoard) {
    return Status(ErrorCode::kBadDtype, "uint16 input needs 16-bit output (png with png_bits 16), "
                                        "not " + std::to_string(bit_depth) + "-bit " +
                                        std::string(format.name));
  }
  return Status::OK();
}

Status CheckNotReserved(const std::string& path, const PathRules& rules);

// Fills plan->paths, one per output file, each resolved by the daemon's path mode and one the
// writer can create: what would fail only at write time (a name over NAME_MAX, a reserved name)
// is refused now, before the job is acknowledged.  REQUIRES: plan->files set.
Status PlanPaths(const SaveRequest& req, const PathRules& rules, SavePlan* plan) {
  Status s = ExpandSavePaths(req.path, req.mode, req.metadata, plan->files, &plan->paths);
  for (size_t i = 0; s.ok() && i < plan->paths.size(); ++i) {
    std::string resolved;
    s = ResolveOutputPath(rules, req.cwd, plan->paths[i], &resolved);
    plan->paths[i] = std::move(resolved);
  }
  if (s.ok() && req.mode == OutputMode::kGrid) s = CheckNotReserved(plan->paths[0], rules);
  for (size_t i = 0; s.ok() && i < plan->paths.size(); ++i) {
    const std::string& path = plan->paths[i];
    // The manifest is JSON and object stores take UTF-8 keys: a byte string that is not
    // UTF-8 would be mangled there.
    if (!IsValidUtf8(path)) {
      s = Status(ErrorCode::kBadPath, "path " + QuoteForMessage(path) + " is not valid UTF-8");
    } else {
      s = CheckOutputName(path);
    }
  }
  return s;
}

// The output root's own files are not outputs.
Status CheckNotReserved(const std::string& path, const PathRules& rules) {
  if (path == kManifestName || (!rules.roots.empty() && path == rules.roots[0] + "/" + kManifestName)) {
    return Status(ErrorCode::kBadPath, std::string(kManifestName) + " is the daemon's manifest");
  }
  return Status::OK();
}

// Metadata is written into the files (PNG tEXt/iTXt, JPEG COM): refuse what cannot be, now.
// Every file and its manifest line carry all of it: bound its size, and its copies.
// REQUIRES: plan->files set.
Status CheckMetadata(const SaveRequest& req, const ValidationLimits& limits,
                     const SavePlan& plan) {
  uint64_t bytes = 0;
  for (const auto& [key, value] : req.metadata) bytes += key.size() + value.size();
  if (bytes > limits.max_metadata_bytes) {
    return Status(ErrorCode::kTooLarge,
                  "metadata of " + std::to_string(bytes) + " bytes (keys and values) is over "
                  "the limit of " + std::to_string(limits.max_metadata_bytes) +
                  " bytes per request (--max-metadata-bytes)");
  }
  if (bytes * uint64_t(plan.files) > limits.max_metadata_copies_bytes) {
    return Status(ErrorCode::kTooLarge,
                  std::to_string(plan.files) + " files x " + std::to_string(bytes) +
                      " metadata bytes is over the limit of " +
                      std::to_string(limits.max_metadata_copies_bytes) +
                      " metadata bytes written per request: fewer files or less metadata");
  }
  for (const auto& [key, value] : req.metadata) {
    std::string latin1;
    Status s = CheckTextKey(key, &latin1);
    if (s.ok()) s = CheckTextValue(key, value);
    if (!s.ok()) return s;
  }
  return Status::OK();
}

// A "tb" save: an image summary for the run directory `path` (PROTOCOL.md "TensorBoard").
Status CheckTensorBoard(const SaveRequest& req, const ValidationLimits& limits) {
  if (!req.tensorboard) return Status::OK();
  if (!limits.tensorboard) {
    return Status(ErrorCode::kBadOption,
                  "this daemon writes no TensorBoard event files: start it with --tensorboard-logdir");
  }
  if (req.mode != OutputMode::kGrid) {
    return Status(ErrorCode::kBadOption, "a tb save is one image summary: mode must be grid");
  }
  if (req.format && *req.format != OutputFormat::kPng) {
    return Status(ErrorCode::kBadFormat, "TensorBoard image summaries hold PNG only");
  }
  if (req.png.bit_depth != 8) {
    return Status(ErrorCode::kBadOption, "TensorBoard image summaries hold 8-bit samples only");
  }
  if (req.render.quantize != Quantize::kTensorBoard) {
    return Status(ErrorCode::kBadOption, "a tb save needs quantize tensorboard (torch's "
                                         "SummaryWriter conversion)");
  }
  return Status::OK();
}

}  // namespace

Status ValidateSave(const SaveRequest& req, size_t payload_size, const ValidationLimits& limits,
                    SavePlan* plan) {
  Status s = CheckShape(req, payload_size, limits);
  if (!s.ok()) return s;
  const TensorBatch batch = MakeTensorBatch(nullptr, req.dtype, req.shape.data(), req.layout);
  plan->n = batch.n;
  plan->c = batch.c;
  plan->h = batch.h;
  plan->w = batch.w;
  s = CheckTensorBoard(req, limits);
  if (!s.ok()) return s;
  if (req.tensorboard) {
    plan->format = OutputFormat::kPng;  // the path is a run directory: no extension to read
  } else if (!ResolveOutputFormat(req.format, req.path, &plan->format)) {
    return Status(ErrorCode::kBadFormat, "cannot infer the format from the extension of '" +
                                             req.path + "': use " + KnownExtensions() +
                                             ", or set format");
  }
  s = CheckChannelsAndDtype(req, plan);
  if (!s.ok()) return s;
  s = CheckOutputGeometry(req, limits, plan);
  if (!s.ok()) return s;
  s = CheckMetadata(req, limits, *plan);
  if (!s.ok()) return s;
  return PlanPaths(req, req.tensorboard ? limits.tensorboard_paths : limits.paths, plan);
}

}  // namespace imgsink::daemon
