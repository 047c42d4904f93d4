// Tensor and output vocabulary shared by the wire protocol, the daemon and the clients.
// Wire names (the *Name functions) are part of proto/PROTOCOL.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace imgsink {

enum class DType : uint8_t { kUint8, kUint16, kFloat16, kBFloat16, kFloat32, kFloat64 };

// How the dims of a tensor are named.  N = batch, C = channels, H = height, W = width.
enum class Layout : uint8_t { kHW, kCHW, kNCHW, kHWC, kNHWC };

// Values are contiguous from 0 and index kFormatTable (formats.h), where each format is
// described; a new one goes at the end, with its table row.
enum class OutputFormat : uint8_t { kPng, kJpeg, kWebp };

// One grid image per request (make_grid), or one file per image of the batch.
enum class OutputMode : uint8_t { kGrid, kEach };

enum class JpegSubsampling : uint8_t { k444, k422, k420 };

// PNG row filters (libpng's PNG_FILTER_* choices); kAll lets libpng pick per row.
enum class PngFilter : uint8_t { kAll, kNone, kSub, kUp, kAvg, kPaeth };

// zlib strategies (Z_DEFAULT_STRATEGY, Z_FILTERED, Z_HUFFMAN_ONLY, Z_RLE).
enum class PngStrategy : uint8_t { kDefault, kFiltered, kHuffman, kRle };

// How tensor values become 8-bit samples (PROTOCOL.md "Quantization"): torchvision's save_image
// (x255 + 0.5, clamp, truncate: rounding) or torch.utils.tensorboard's add_image(s) (to float32,
// x255 -- x1 for uint8 --, clip to [0, 255], truncate).
enum class Quantize : uint8_t { kSaveImage, kTensorBoard };

// Bytes per element.
size_t DTypeSize(DType dtype);
// Number of dims the layout names (2, 3 or 4).
int LayoutRank(Layout layout);

std::string_view DTypeName(DType dtype);  // "uint8", "uint16", "float16", "bfloat16", "float32", "float64"
std::string_view LayoutName(Layout layout);  // "HW", "CHW", "NCHW", "HWC", "NHWC"
std::string_view OutputFormatName(OutputFormat format);  // kFormatTable's name: "png", "jpeg"
std::string_view OutputModeName(OutputMode mode);  // "grid", "each"
std::string_view JpegSubsamplingName(JpegSubsampling s);  // "444", "422", "420"
std::string_view PngFilterName(PngFilter f);  // "all", "none", "sub", "up", "avg", "paeth"
std::string_view PngStrategyName(PngStrategy s);  // "default", "filtered", "huffman", "rle"
std::string_view QuantizeName(Quantize q);  // "save_image", "tensorboard"

// Each returns true iff `name` is a wire name of that enum; sets *out then.
bool ParseDType(std::string_view name, DType* out);
bool ParseLayout(std::string_view name, Layout* out);
bool ParseOutputFormat(std::string_view name, OutputFormat* out);  // names and aliases: "jpg"
bool ParseOutputMode(std::string_view name, OutputMode* out);
bool ParseJpegSubsampling(std::string_view name, JpegSubsampling* out);
bool ParsePngFilter(std::string_view name, PngFilter* out);
bool ParsePngStrategy(std::string_view name, PngStrategy* out);
bool ParseQuantize(std::string_view name, Quantize* out);

// Format inference from a path (InferOutputFormat, ResolveOutputFormat) is in formats.h.

}  // namespace imgsink
