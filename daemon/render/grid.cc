#include "daemon/render/grid.h"

#include <cstdint>
#include <string>

namespace imgsink::daemon {

Status ComputeGridGeometry(int64_t n, int64_t h, int64_t w, int nrow, int padding,
                           GridGeometry* out) {
  if (nrow < 1) return Status(ErrorCode::kBadOption, "nrow must be >= 1, got " + std::to_string(nrow));
  if (padding < 0) {
    return Status(ErrorCode::kBadOption, "padding must be >= 0, got " + std::to_string(padding));
  }
  if (n < 1 || h < 1 || w < 1) return Status(ErrorCode::kBadShape, "every dim must be >= 1");
  constexpr int64_t kMaxSide = INT32_MAX;
  if (h > kMaxSide || w > kMaxSide) {
    return Status(ErrorCode::kTooLarge, "image side exceeds " + std::to_string(kMaxSide));
  }
  GridGeometry g;
  if (n == 1) {
    g.width = w;
    g.height = h;
    g.cell_w = w;
    g.cell_h = h;
    *out = g;
    return Status::OK();
  }
  g.padding = padding;
  g.xmaps = n < nrow ? n : int64_t(nrow);
  g.ymaps = (n + g.xmaps - 1) / g.xmaps;
  g.cell_w = w + padding;
  g.cell_h = h + padding;
  // xmaps, ymaps <= n and cells <= 2^31 + 2^31: check each product against the limit by division.
  if (g.xmaps > (kMaxSide - padding) / g.cell_w || g.ymaps > (kMaxSide - padding) / g.cell_h) {
    return Status(ErrorCode::kTooLarge, "grid canvas side exceeds " + std::to_string(kMaxSide));
  }
  g.width = g.xmaps * g.cell_w + padding;
  g.height = g.ymaps * g.cell_h + padding;
  g.has_pad_pixels = padding > 0 || g.xmaps * g.ymaps != n;
  *out = g;
  return Status::OK();
}

}  // namespace imgsink::daemon
