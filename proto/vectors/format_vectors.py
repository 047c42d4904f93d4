"""The "formats" section of proto/vectors/vectors.json (see README.md here): PROTOCOL.md's
format table and path -> format inference cases.  Imported by make_vectors.py.

The expected formats come from os.path.splitext (what PIL's Image.save uses) and the table; where
PIL is installed its own extension registry must agree.
"""
import posixpath

# PROTOCOL.md "Formats": one row per format, in the order of OutputFormat.
FORMATS = [
    {"name": "png", "aliases": [], "extensions": [".png", ".apng"], "alpha": True,
     "max_bit_depth": 16, "max_dimension": 2**31 - 1},
    {"name": "jpeg", "aliases": ["jpg"], "extensions": [".jpg", ".jpeg", ".jpe", ".jfif"],
     "alpha": False, "max_bit_depth": 8, "max_dimension": 65500},
    {"name": "webp", "aliases": [], "extensions": [".webp"], "alpha": True,
     "max_bit_depth": 8, "max_dimension": 16383},
]
# Paths for the inference cases: PIL's corner cases of os.path.splitext (leading dots, dots in
# directories, trailing slash, case).
INFERENCE_PATHS = [
    "a.png", "a.PNG", "dir.jpg/a.png", "a.jpg", "a.JPEG", "a.jpe", "a.jfif", "a.JfIf", "a.apng",
    "a.gif", "a.bmp", "a.webp", "a.WebP", "a", ".png", "..png", "dir/.png", ".hidden.jpg", "a..png",
    "a.png.txt", "a.txt.png", "a.", "a.jpg/", "dir.png/a", "...png", "a.pn", "a. png",
    "samples/step_{step:06d}.jpeg", "r{rank}/{index:04d}.Png", "\u00e9t\u00e9.jpg",
]


def inference_cases():
    """[{"path", "format"}]: the table's name for the path's extension, or None."""
    by_ext = {e: f["name"] for f in FORMATS for e in f["extensions"]}
    cases = [{"path": p, "format": by_ext.get(posixpath.splitext(p)[1].lower())}
             for p in INFERENCE_PATHS]
    try:  # PIL decides what save_image writes; where it is installed, it must agree.
        from PIL import Image
        Image.init()
        names = {f["name"] for f in FORMATS}
        for c in cases:  # PIL's format names, lower-cased, are the table's names
            got = Image.EXTENSION.get(posixpath.splitext(c["path"])[1].lower(), "").lower()
            assert (got if got in names else None) == c["format"], (c, got)
    except ImportError:
        pass
    assert {c["format"] for c in cases} == {f["name"] for f in FORMATS} | {None}
    return cases
