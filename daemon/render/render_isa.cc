#include "daemon/render/render_isa.h"

#include <atomic>

namespace imgsink::daemon {
namespace {

bool CpuRuns(RenderIsa isa) {
  if (isa == RenderIsa::kBaseline) return true;
#if defined(__x86_64__)
  return __builtin_cpu_supports("avx2");
#else
  return false;
#endif
}

// -1: not chosen, use SupportedRenderIsa().
std::atomic<int> g_chosen{-1};

}  // namespace

RenderIsa SupportedRenderIsa() {
  return CpuRuns(RenderIsa::kAvx2) ? RenderIsa::kAvx2 : RenderIsa::kBaseline;
}

RenderIsa ActiveRenderIsa() {
  const int chosen = g_chosen.load(std::memory_order_relaxed);
  return chosen < 0 ? SupportedRenderIsa() : RenderIsa(chosen);
}

bool SetRenderIsa(RenderIsa isa) {
  if (!CpuRuns(isa)) return false;
  g_chosen.store(int(isa), std::memory_order_relaxed);
  return true;
}

}  // namespace imgsink::daemon
