// Which instruction set the render's per-element loops run with.
//
// The loops are compiled twice: for the build's baseline (x86-64: SSE2) and, on x86-64, for
// AVX2 (8 floats per instruction, byte shuffles for the channel interleave).  Both variants do
// the same IEEE-754 operations in the same order with no FMA (-ffp-contract=off; the AVX2
// variant does not enable FMA), so they produce the same bits; the choice changes only speed.
// Thread-safety: all functions may be called from any thread.
#pragma once

namespace imgsink::daemon {

enum class RenderIsa { kBaseline, kAvx2 };

// The best variant this CPU runs.
RenderIsa SupportedRenderIsa();

// The variant RenderGrid uses now: SupportedRenderIsa() unless SetRenderIsa chose another.
RenderIsa ActiveRenderIsa();

// Makes RenderGrid use `isa` (tests and benchmarks compare the variants).  Returns false, and
// changes nothing, when this CPU cannot run it.
bool SetRenderIsa(RenderIsa isa);

// Attributes of a function that is one variant of a loop: `flatten` inlines every call in it, so
// the whole loop body is compiled (and vectorized) for the variant's target.
#define IMGSINK_RENDER_BASELINE __attribute__((flatten))
#if defined(__x86_64__)
#define IMGSINK_RENDER_AVX2 __attribute__((target("avx2"), flatten))
#endif

}  // namespace imgsink::daemon
