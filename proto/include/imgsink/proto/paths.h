// Output paths: the relative-path rule and the path templates of PROTOCOL.md ("Paths"), the one
// C++ implementation (the daemon validates with it, the C++ client checks with it before
// sending; the Python client's imgsink/_paths.py is held to the same proto/vectors/paths.json).
//
// Templates are a subset of Python's str.format, so `tmpl.format(index=i)` in Python and
// ExpandTemplate(tmpl, {}, {{"index", i}}) agree on every template this file accepts:
//   {name}        the variable's value (ints in decimal, strings as they are)
//   {name:d}      int variable in decimal
//   {name:0Nd}    int variable zero-padded to width N (1..9), sign first: -7 -> "-07" for N=3
//   {{  }}        literal braces
// A name is [A-Za-z_][A-Za-z0-9_]*.  Anything else inside braces (conversions "!r", other specs,
// attribute or index access, positional "{}"), an unmatched brace or an unknown name is refused.
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "imgsink/proto/status.h"
#include "imgsink/proto/types.h"

namespace imgsink {

// The longest path accepted, in bytes.
inline constexpr size_t kMaxPathBytes = 4096;

// Returns OK iff `path` is a relative path we may write beneath the output root: 1..4096 bytes,
// no NUL, no leading or trailing '/', no empty component ("a//b"), no "." or ".." component.
// Bytes are not otherwise interpreted (no UTF-8 check here).  Otherwise kBadPath saying which
// rule broke.
Status CheckRelativePath(std::string_view path);

// Returns OK iff `path` is an output path as a client may send it after template expansion,
// whatever the daemon's path mode (PROTOCOL.md "Paths"): 1..4096 bytes, no NUL, not ending with
// '/', and its last component is not "." or "..".  Relative or absolute, '.', '..' and empty
// components elsewhere are the path mode's to judge (ResolveOutputPath).  Otherwise kBadPath.
Status CheckOutputPath(std::string_view path);

// The daemon's path modes (imgsinkd --paths; PROTOCOL.md "Paths").
enum class PathMode {
  // The system service: every file lands beneath one of `roots`.  A relative path is beneath
  // roots[0] (the client's cwd is ignored); an absolute one must lie beneath one of the roots.
  // No '..' component; '.' and empty components are dropped.  Symbolic links beneath a root
  // are refused when writing (OutputRoot).
  kRoots,
  // A per-user daemon running as the user: a relative path is relative to the client's cwd
  // (roots[0] when the client sent none), an absolute one is taken as it is; the kernel decides
  // what may be written ('..' and symbolic links resolve as for the caller's own open()).
  kCaller,
};

// The output directories and mode of a daemon.  `roots` are absolute, without '.', '..' or
// empty components and without a trailing '/' ("/" itself allowed); roots[0] takes relative
// paths.  REQUIRES (for ResolveOutputPath): !roots.empty().
struct PathRules {
  PathMode mode = PathMode::kRoots;
  std::vector<std::string> roots;
};

// Returns `path` (absolute or relative) with empty and "." components dropped; ".." components
// are kept (only the kernel knows what they mean past a symbolic link).  An absolute path keeps
// its leading '/' ("/" stays "/"); a relative one that drops to nothing becomes "".  Pure.
std::string DropDotComponents(std::string_view path);

// Resolves `path`, one expanded output path that passes CheckOutputPath, sent with the
// client's working directory `cwd` ("" for none, else absolute), by `rules` into *out, the path
// the daemon writes:
//   - a path relative to roots[0]: "a/b.png" (kRoots: a relative path, or an absolute one
//     beneath roots[0]; kCaller: a relative path sent without a cwd), passing CheckRelativePath;
//   - an absolute path: kRoots: beneath roots[k], k >= 1 (without '.', '..' or empty
//     components); kCaller: cwd + "/" + path, or the absolute path, with '.' and empty
//     components dropped and '..' kept for the kernel to resolve.
// Errors: kBadPath naming the path and, in kRoots, the allowed roots: '..' or an absolute path
// outside every root (kRoots), a result over kMaxPathBytes.
Status ResolveOutputPath(const PathRules& rules, std::string_view cwd, std::string_view path,
                         std::string* out);

// Returns true iff the absolute, '..'-free path `path` is `root` or lies beneath it (compared
// by components: "/data/out2" is not beneath "/data/out").  Sets *rel to the part below root
// ("" for root itself).  Pure.
bool IsBeneath(std::string_view root, std::string_view path, std::string_view* rel);

// Expands `tmpl` (syntax above) into *out; the result must pass CheckOutputPath.
// A name found in both maps is refused as ambiguous.
// Errors: kBadPath naming the template and the problem.  *out is unspecified on error.
Status ExpandTemplate(std::string_view tmpl, const std::map<std::string, std::string>& string_vars,
                      const std::map<std::string, int64_t>& int_vars, std::string* out);

// Returns true iff `tmpl` has a replacement field for `name` ({name} or {name:...}), reading the
// template as ExpandTemplate does ("{{name}}" is literal text, not a field).  Stops at the first
// syntax error, so a malformed template may answer false.
bool TemplateUses(std::string_view tmpl, std::string_view name);

// Returns true iff `s` is a meta value the templates treat as an integer: an optional '-' and
// one or more ASCII digits whose value fits int64 (leading zeros allowed: "007" is 7, so
// "{k}" of it expands to "7").  Sets *value then.
bool ParseMetaInt(std::string_view s, int64_t* value);

// The output paths of a save request (PROTOCOL.md "Paths"): `path` is a template whose fields
// are the `metadata` keys (integer values as ints, see ParseMetaInt, others as text) and, in
// mode kEach, {index}, the image's index.  Fills *out with the expansions for file indices
// 0..files-1 (one path in grid mode).
// REQUIRES: files == 1 in mode kGrid; files >= 1 in mode kEach.
// Errors (kBadPath, *out unspecified): `path` over kMaxPathBytes; mode kEach without an {index}
// field, or with a metadata key "index"; any ExpandTemplate error for any of the files.
Status ExpandSavePaths(std::string_view path, OutputMode mode,
                       const std::map<std::string, std::string>& metadata, int64_t files,
                       std::vector<std::string>* out);

// Returns OK iff a save with this `path`, `mode` and `metadata` has valid output paths (by
// CheckOutputPath: the daemon's path mode may still refuse them), i.e.
// ExpandSavePaths for its first file succeeds (later indices only add digits, which break no
// rule but the length limit).  Errors as ExpandSavePaths.  What the clients check before sending.
Status CheckSavePath(std::string_view path, OutputMode mode,
                     const std::map<std::string, std::string>& metadata);

// `s` quoted for an error message: printable ASCII kept, other bytes as \xNN, cut after 200
// bytes.  Messages stay valid UTF-8 whatever the client sent.
std::string QuoteForMessage(std::string_view s);

}  // namespace imgsink
