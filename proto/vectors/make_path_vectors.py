#!/usr/bin/python3
"""Generates proto/vectors/paths.json, the shared vectors of the path rules (PROTOCOL.md "Paths";
see README.md here).

    /usr/bin/python3 proto/vectors/make_path_vectors.py           # rewrite paths.json
    /usr/bin/python3 proto/vectors/make_path_vectors.py --check   # exit 1 if paths.json is stale

The expected results are written by hand below; this script checks them against an independent
reading of PROTOCOL.md before writing them: every accepted template must give its paths under
Python's own str.format (meta values that are int64 decimal integers passed as ints, {index} as
the file's index), every path it lists or expands to must pass `output_path_ok` (what every path
mode accepts), and every "resolve" case must give what `resolve`, an independent reading of the
two path modes, gives.  A refused template says `why`: "syntax" (outside the
str.format subset), "field" (unknown field, or a field the mode does not have), "length" (the
template itself is over 4096 bytes) or "path" (str.format expands it, but one of the first `files`
results breaks the path rule, checked here).
"""
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "paths.json"
MAX_PATH_BYTES = 4096
LONG = "a" * 4091  # + "0.png" .. "9.png" is 4096 bytes, + "10.png" one too many


def relative_path_ok(path):
    """PROTOCOL.md "Paths": 1..4096 UTF-8 bytes, no NUL, not absolute, no empty / . / .. part."""
    raw = path.encode("utf-8")
    if not 1 <= len(raw) <= MAX_PATH_BYTES or "\0" in path:
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def output_path_ok(path):
    """PROTOCOL.md "Paths", what any path mode may accept: 1..4096 UTF-8 bytes, no NUL, not
    ending with '/', the last component not '.' or '..'."""
    raw = path.encode("utf-8")
    if not 1 <= len(raw) <= MAX_PATH_BYTES or "\0" in path or path.endswith("/"):
        return False
    return path.split("/")[-1] not in (".", "..")


def resolve(mode, roots, cwd, path):
    """PROTOCOL.md "Paths", the daemon's two modes, read independently of paths.cc: returns
    (result, None) or (None, why)."""
    if not output_path_ok(path):
        return None, "path"
    parts = path.split("/")
    absolute = path.startswith("/")
    if mode == "caller" and (absolute or cwd):
        base = [] if absolute else cwd.split("/")
        kept = [p for p in base + parts if p not in ("", ".")]
        out = "/" + "/".join(kept)
        return (out, None) if len(out.encode()) <= MAX_PATH_BYTES else (None, "length")
    if ".." in parts:
        return None, "dotdot"
    kept = [p for p in parts if p not in ("", ".")]
    if not absolute:
        return "/".join(kept), None
    for k, root in enumerate(roots):
        rparts = [p for p in root.split("/") if p]
        if kept[:len(rparts)] == rparts and len(kept) > len(rparts):
            return ("/".join(kept[len(rparts):]) if k == 0 else "/" + "/".join(kept)), None
    return None, "outside"


def format_args(meta, index):
    args = {}
    for key, value in meta.items():
        is_int = re.fullmatch(r"-?[0-9]+", value) and len(value) < 4300 and \
            -2**63 <= int(value) < 2**63
        args[key] = int(value) if is_int else value
    if index is not None:
        args["index"] = index
    return args


RELATIVE = []
TEMPLATES = []
RESOLVED = []


def accept(name, path):
    assert relative_path_ok(path), name
    RELATIVE.append({"name": name, "path": path, "ok": True})


def refuse(name, path):
    assert not relative_path_ok(path), name
    RELATIVE.append({"name": name, "path": path, "error": "bad_path"})


def expands(name, path, mode, paths, meta=None):
    """An accepted template: files 0..len(paths)-1 expand to `paths`."""
    meta = meta or {}
    for i, expected in enumerate(paths):
        got = path.format(**format_args(meta, i if mode == "each" else None))
        assert got == expected, (name, got, expected)
        assert output_path_ok(expected), name
    TEMPLATES.append({"name": name, "path": path, "mode": mode, "meta": meta,
                      "files": len(paths), "paths": paths})


def refused(name, path, mode, why, meta=None, files=1):
    meta = meta or {}
    if why == "path":
        results = [path.format(**format_args(meta, i if mode == "each" else None))
                   for i in range(files)]
        assert not all(output_path_ok(p) for p in results), name
        assert all(output_path_ok(p) for p in results[:-1]), f"{name}: files is not minimal"
    elif why == "length":  # the template itself, as the wire carries it
        assert len(path.encode("utf-8")) > MAX_PATH_BYTES, name
    else:
        assert why in ("syntax", "field"), name
    TEMPLATES.append({"name": name, "path": path, "mode": mode, "meta": meta, "files": files,
                      "error": "bad_path", "why": why})


def relative_vectors():
    for name, path in [("plain", "a.png"), ("nested", "a/b/c.png"), ("dots_in_names", "..a/a../..."),
                       ("hidden", ".hidden/x.png"), ("spaces", "a b/c d.png"),
                       ("non_ascii", "\u732b/\u00e9t\u00e9.png"), ("backslash", "a\\b.png"),
                       ("braces_are_bytes", "x/{index}.png"),
                       ("max_length", "a" * (MAX_PATH_BYTES - 4) + ".png"),
                       ("max_length_multibyte", "\u00e9" * 2046 + ".png")]:
        accept(name, path)
    for name, path in [("empty", ""), ("absolute", "/abs/x.png"), ("root", "/"),
                       ("trailing_slash", "a/"), ("empty_component", "a//b.png"),
                       ("dot", "."), ("dot_first", "./a.png"), ("dot_inside", "a/./b.png"),
                       ("dot_last", "a/."), ("dotdot", ".."), ("dotdot_first", "../x.png"),
                       ("dotdot_inside", "a/../../x.png"), ("dotdot_last", "a/.."),
                       ("nul", "a\0b.png"), ("too_long", "a" * (MAX_PATH_BYTES - 3) + ".png"),
                       ("too_long_multibyte", "\u00e9" * 2047 + ".png")]:
        refuse(name, path)


def template_vectors():
    expands("grid_plain", "samples/step_000100.png", "grid", ["samples/step_000100.png"])
    expands("grid_meta_text", "runs/{run}/grid.png", "grid", ["runs/baseline/grid.png"],
            {"run": "baseline"})
    expands("grid_meta_int_padded", "s/{step:06d}.png", "grid", ["s/001200.png"],
            {"step": "1200"})
    expands("grid_meta_int_leading_zeros", "s/{step}.png", "grid", ["s/7.png"], {"step": "007"})
    expands("grid_meta_int_d_negative", "{step:d}.png", "grid", ["-3.png"], {"step": "-3"})
    expands("grid_meta_int_padded_negative", "{off:04d}.png", "grid", ["-007.png"], {"off": "-7"})
    expands("grid_meta_int64_max", "{k:d}.png", "grid", ["9223372036854775807.png"],
            {"k": "9223372036854775807"})
    expands("grid_meta_int64_min", "{k:09d}.png", "grid",
            ["-9223372036854775808.png"], {"k": "-9223372036854775808"})
    expands("grid_meta_past_int64_is_text", "{k}.png", "grid", ["9223372036854775808.png"],
            {"k": "9223372036854775808"})
    expands("grid_meta_int_many_leading_zeros", "{k:d}.png", "grid", ["7.png"],
            {"k": "0" * 30 + "7"})
    expands("grid_meta_long_digits_are_text", "{k}.png", "grid", ["1" * 4000 + ".png"],
            {"k": "1" * 4000})
    expands("grid_meta_plus_is_text", "{k}.png", "grid", ["+5.png"], {"k": "+5"})
    expands("grid_literal_braces", "a{{b}}c.png", "grid", ["a{b}c.png"])
    expands("grid_meta_named_index", "{index}.png", "grid", ["3.png"], {"index": "3"})
    expands("grid_non_ascii", "\u00e9/{tag}.png", "grid", ["\u00e9/\u00fc.png"], {"tag": "\u00fc"})
    expands("grid_unused_meta", "a.png", "grid", ["a.png"], {"step": "5", "tag": "x"})
    expands("each_index", "s/{index}.png", "each", ["s/0.png", "s/1.png", "s/2.png"])
    expands("each_index_padded", "s/{index:04d}.png", "each",
            [f"s/{i:04d}.png" for i in range(11)])
    expands("each_index_d", "{index:d}.png", "each", ["0.png", "1.png"])
    expands("each_index_width_1", "{index:01d}.png", "each", [f"{i}.png" for i in range(11)])
    expands("each_meta_and_index", "r{rank}/{step:05d}_{index:02d}.png", "each",
            ["r0/00042_00.png", "r0/00042_01.png"], {"rank": "0", "step": "42"})
    expands("each_index_twice", "{index}/{index:03d}.png", "each", ["0/000.png", "1/001.png"])
    expands("each_braces_around_index", "{{{index}}}.png", "each", ["{0}.png", "{1}.png"])
    expands("each_meta_dots_in_name", "{tag}/{index}.png", "each", ["..a/0.png"], {"tag": "..a"})
    expands("each_max_length", "{tag}{index}.png", "each", [LONG + "0.png"], {"tag": LONG})
    expands("grid_template_max_length", "{{" * 2046 + ".png", "grid", ["{" * 2046 + ".png"])

    refused("grid_unknown_field", "{nope}.png", "grid", "field")
    refused("grid_has_no_index", "{index}.png", "grid", "field")
    refused("each_without_index", "s/img.png", "each", "field")
    refused("each_index_only_literal", "{{index}}.png", "each", "field")
    refused("each_index_prefix_only", "{indexes}.png", "each", "field", {"indexes": "1"})
    refused("each_meta_index_int", "{index}.png", "each", "field", {"index": "1"})
    refused("each_meta_index_text", "{index}.png", "each", "field", {"index": "x"})
    refused("each_unknown_field", "{rank}/{index}.png", "each", "field")
    for name, spec in [("width_without_zero", "{index:5d}"), ("width_10", "{index:010d}"),
                       ("width_0", "{index:00d}"), ("hex", "{index:x}"), ("no_d", "{index:04}"),
                       ("plus", "{index:+d}"), ("fill", "{index:_d}"),
                       ("conversion", "{index!r}"), ("attribute", "{index.real}"),
                       ("item", "{index[0]}"), ("empty_field", "{}"), ("positional", "{0}"),
                       ("space", "{ index}"), ("nested", "{index:0{w}d}"),
                       ("unmatched_open", "{index"), ("unmatched_close", "index}"),
                       ("extra_close", "{index}}"), ("open_in_field", "{a{b}}")]:
        refused("each_syntax_" + name, "s/" + spec + ".png", "each", "syntax", {"w": "4"})
    refused("grid_text_with_spec", "{tag:d}.png", "grid", "syntax", {"tag": "x"})
    refused("grid_plus_is_text_with_spec", "{k:d}.png", "grid", "syntax", {"k": "+5"})
    refused("grid_past_int64_with_spec", "{k:d}.png", "grid", "syntax",
            {"k": "9223372036854775808"})
    refused("grid_long_digits_with_spec", "{k:d}.png", "grid", "syntax", {"k": "1" * 4000})
    refused("grid_single_close", "a}b.png", "grid", "syntax")
    refused("grid_single_open", "a{b.png", "grid", "syntax")
    # Absolute paths, '.', '..' and '//' are output paths: the daemon's path mode judges them
    # ("resolve" below), so every client sends them as written.
    expands("grid_expands_dotdot", "{tag}/x.png", "grid", ["../x.png"], {"tag": ".."})
    expands("each_expands_absolute", "{tag}/{index}.png", "each", ["/0.png", "/1.png"],
            {"tag": ""})
    expands("each_expands_dot", "{tag}/{index}.png", "each", ["./0.png"], {"tag": "."})
    expands("each_expands_empty_component", "{tag}/{index}.png", "each", ["a//0.png"],
            {"tag": "a/"})
    expands("each_expands_slash_dotdot", "{tag}{index}.png", "each", ["../0.png"],
            {"tag": "../"})
    expands("grid_absolute", "/data/out/{run}/x.png", "grid", ["/data/out/a/x.png"],
            {"run": "a"})
    refused("grid_expands_empty", "{tag}", "grid", "path", {"tag": ""})
    refused("grid_expands_dotdot_last", "{tag}", "grid", "path", {"tag": "a/.."})
    refused("grid_expands_dot_last", "x/{tag}", "grid", "path", {"tag": "."})
    refused("each_expands_trailing_slash", "x/{index}/", "each", "path")
    refused("each_expands_nul", "{tag}{index}.png", "each", "path", {"tag": "\0"})
    refused("each_too_long_from_index_10", "{tag}{index}.png", "each", "path", {"tag": LONG},
            files=11)
    refused("grid_template_too_long", "{{" * 2047 + ".png", "grid", "length")


def resolves(name, mode, roots, cwd, path, expected=None, why=None):
    """ResolveOutputPath(rules{mode, roots}, cwd or "", path): `expected`, or bad_path (`why`
    says which rule: path, dotdot, outside, length)."""
    got, got_why = resolve(mode, roots, cwd, path)
    assert (got, got_why) == (expected, why), (name, got, got_why)
    v = {"name": name, "mode": mode, "roots": roots, "cwd": cwd, "path": path}
    v.update({"result": expected} if why is None else {"error": "bad_path", "why": why})
    RESOLVED.append(v)


def resolve_vectors():
    roots = ["/srv/out", "/data/shared"]
    # The confined service (--paths roots): beneath the roots, the client's cwd ignored.
    resolves("roots_relative", "roots", roots, "/home/u", "a/b.png", "a/b.png")
    resolves("roots_relative_dots_dropped", "roots", roots, None, "./a//b/./c.png", "a/b/c.png")
    resolves("roots_absolute_first_root", "roots", roots, None, "/srv/out/x/y.png", "x/y.png")
    resolves("roots_absolute_second_root", "roots", roots, None, "/data/shared//r/./y.png",
             "/data/shared/r/y.png")
    resolves("roots_absolute_outside", "roots", roots, None, "/etc/x.png", why="outside")
    resolves("roots_absolute_prefix_is_not_beneath", "roots", roots, None, "/srv/out2/x.png",
             why="outside")
    resolves("roots_absolute_the_root_itself", "roots", roots, None, "/srv/out/.", why="path")
    resolves("roots_dotdot_relative", "roots", roots, "/srv/out", "../x.png", why="dotdot")
    resolves("roots_dotdot_inside", "roots", roots, None, "a/../b.png", why="dotdot")
    resolves("roots_dotdot_absolute_escape", "roots", roots, None, "/srv/out/../etc/x.png",
             why="dotdot")
    resolves("roots_root_slash", "roots", ["/"], None, "/tmp/x.png", "tmp/x.png")
    # The per-user daemon (--paths caller): the caller's cwd, absolute paths as given.
    resolves("caller_relative", "caller", roots, "/home/u/run", "samples/0.png",
             "/home/u/run/samples/0.png")
    resolves("caller_relative_dots", "caller", roots, "/home/u/run", "./s//0.png",
             "/home/u/run/s/0.png")
    resolves("caller_dotdot_kept", "caller", roots, "/home/u/run", "../out/x.png",
             "/home/u/run/../out/x.png")
    resolves("caller_absolute", "caller", roots, "/home/u/run", "/tmp/x.png", "/tmp/x.png")
    resolves("caller_absolute_no_cwd", "caller", roots, None, "/tmp//./x.png", "/tmp/x.png")
    resolves("caller_cwd_root", "caller", roots, "/", "x.png", "/x.png")
    resolves("caller_relative_without_cwd_is_beneath_first_root", "caller", roots, None,
             "a/b.png", "a/b.png")
    resolves("caller_without_cwd_dotdot", "caller", roots, None, "../b.png", why="dotdot")
    resolves("caller_too_long", "caller", roots, "/" + "c" * 4000, "a" * 96 + ".png",
             why="length")
    resolves("caller_directory", "caller", roots, "/home/u", "x/..", why="path")


def render():
    relative_vectors()
    template_vectors()
    resolve_vectors()
    for group in (RELATIVE, TEMPLATES, RESOLVED):
        names = [v["name"] for v in group]
        assert len(names) == len(set(names)), "duplicate vector names"
    lines = ['{"version": 1,', '"relative_paths": [']
    lines.append(",\n".join(json.dumps(v, ensure_ascii=False) for v in RELATIVE))
    lines.append('],\n"templates": [')
    lines.append(",\n".join(json.dumps(v, ensure_ascii=False) for v in TEMPLATES))
    lines.append('],\n"resolve": [')
    lines.append(",\n".join(json.dumps(v, ensure_ascii=False) for v in RESOLVED))
    lines.append("]}")
    return "\n".join(lines) + "\n"


def main():
    text = render()
    json.loads(text)
    if sys.argv[1:] == ["--check"]:
        if OUT.read_text(encoding="utf-8") != text:
            sys.exit(f"{OUT} is stale: run {Path(__file__).name}")
        return
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {len(RELATIVE)} relative-path, {len(TEMPLATES)} template and {len(RESOLVED)} "
          f"resolve vectors to {OUT}")


if __name__ == "__main__":
    main()
