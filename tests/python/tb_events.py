"""Reading TensorBoard event files in tests, independently of the daemon's code.

``EVENT`` is tensorboard's Event message, built at run time with Debian's python3-protobuf from
the descriptor below (the fields of tensorboard/compat/proto/event.proto and summary.proto that
image summaries use, same numbers and types: there is no protoc here, so the ".proto" is
written as a FileDescriptorProto).  ``read_events`` checks every record's framing and both
masked CRC-32Cs with its own CRC-32C (a table, not ISA-L).  ``torch_image`` reproduces
torch.utils.tensorboard's pixels from its source (summary.py image(), _utils.py convert_to_HWC
and make_grid).  ``installed_torch_image`` runs the installed torch's own summary.image() when
it can be loaded without the tensorboard package (its proto imports are stubbed with ours).
"""

from __future__ import annotations

import importlib.util
import io
import os
import struct
import sys
import types
from typing import List

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool

try:
    from google.protobuf import message_factory
    _get_class = getattr(message_factory, "GetMessageClass", None)
except ImportError:  # pragma: no cover
    message_factory, _get_class = None, None

# --- the .proto (tensorboard/compat/proto/summary.proto and event.proto, the used fields) ----
#   message Summary { message Image { int32 height = 1; int32 width = 2; int32 colorspace = 3;
#                                     bytes encoded_image_string = 4; }
#                     message Value { string node_name = 7; string tag = 1; float simple_value = 2;
#                                     Image image = 4; }
#                     repeated Value value = 1; }
#   message Event { double wall_time = 1; int64 step = 2;
#                   oneof what { string file_version = 3; Summary summary = 5; } }


def _build():
    F = descriptor_pb2.FieldDescriptorProto
    fd = descriptor_pb2.FileDescriptorProto(name="imgsink_tb_test.proto", package="tbtest",
                                            syntax="proto3")

    def field(msg, name, number, ftype, label=F.LABEL_OPTIONAL, type_name=None, oneof=None):
        f = msg.field.add(name=name, number=number, type=ftype, label=label)
        if type_name:
            f.type_name = type_name
        if oneof is not None:
            f.oneof_index = oneof

    summary = fd.message_type.add(name="Summary")
    image = summary.nested_type.add(name="Image")
    field(image, "height", 1, F.TYPE_INT32)
    field(image, "width", 2, F.TYPE_INT32)
    field(image, "colorspace", 3, F.TYPE_INT32)
    field(image, "encoded_image_string", 4, F.TYPE_BYTES)
    value = summary.nested_type.add(name="Value")
    field(value, "node_name", 7, F.TYPE_STRING)
    field(value, "tag", 1, F.TYPE_STRING)
    field(value, "simple_value", 2, F.TYPE_FLOAT)
    field(value, "image", 4, F.TYPE_MESSAGE, type_name=".tbtest.Summary.Image")
    field(summary, "value", 1, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".tbtest.Summary.Value")
    event = fd.message_type.add(name="Event")
    event.oneof_decl.add(name="what")
    field(event, "wall_time", 1, F.TYPE_DOUBLE)
    field(event, "step", 2, F.TYPE_INT64)
    field(event, "file_version", 3, F.TYPE_STRING, oneof=0)
    field(event, "summary", 5, F.TYPE_MESSAGE, type_name=".tbtest.Summary", oneof=0)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)

    def cls(name):
        desc = pool.FindMessageTypeByName(name)
        if _get_class is not None:
            return _get_class(desc)
        return message_factory.MessageFactory(pool).GetPrototype(desc)

    return cls("tbtest.Event"), cls("tbtest.Summary"), cls("tbtest.Summary.Image"), \
        cls("tbtest.Summary.Value")


EVENT, SUMMARY, SUMMARY_IMAGE, SUMMARY_VALUE = _build()


class _SummaryStub:
    """tensorboard's Summary as torch's summary.py uses it: Summary(value=[...]),
    Summary.Value(...), Summary.Image(...)."""
    Image = SUMMARY_IMAGE
    Value = SUMMARY_VALUE

    def __new__(cls, **kw):
        return SUMMARY(**kw)

# --- CRC-32C, bit by bit via a table (independent of the daemon's ISA-L) -----------------------

_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    c = crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # RFC 3720's check value


def read_records(path) -> List[bytes]:
    """Every record's data; asserts the file is whole records with valid CRCs."""
    data = open(path, "rb").read()
    out, pos = [], 0
    while pos < len(data):
        assert len(data) - pos >= 16, f"{path}: torn record at {pos}"
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (hcrc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        assert hcrc == masked_crc(header), f"{path}: bad length CRC at {pos}"
        body = data[pos + 12:pos + 12 + length]
        assert len(body) == length and len(data) >= pos + 16 + length, f"{path}: torn at {pos}"
        (dcrc,) = struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])
        assert dcrc == masked_crc(body), f"{path}: bad data CRC at {pos}"
        out.append(body)
        pos += 16 + length
    return out


def frame(data: bytes) -> bytes:
    """One record in TensorBoard's framing (what read_records reads back)."""
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc(header)) + data + \
        struct.pack("<I", masked_crc(data))


def event_files(run_dir, writer: str = "") -> List[str]:
    """The event files of ``run_dir``; ``writer`` "imgsinkd": only the daemon's
    (events.out.tfevents.<secs>.<host>.imgsinkd.<seq>, TB_EVENT_FORMAT.md)."""
    return sorted(os.path.join(run_dir, n) for n in os.listdir(run_dir)
                  if "tfevents" in n and (not writer or f".{writer}." in n))


def read_events(path) -> list:
    """The Events of one file; asserts the version record comes first and only there."""
    events = []
    for i, body in enumerate(read_records(path)):
        e = EVENT()
        e.ParseFromString(body)
        assert (e.WhichOneof("what") == "file_version") == (i == 0), f"{path}: record {i}"
        if i == 0:
            assert e.file_version == "brain.Event:2"
        events.append(e)
    return events


def image_events(run_dir) -> list:
    """(tag, step, wall_time, HWC uint8 pixels, colorspace) of every image the daemon wrote
    into ``run_dir``, file by file (each of its records one image; other writers' files, e.g.
    torch's scalars beside them, are not read)."""
    from PIL import Image
    out = []
    for path in event_files(run_dir, writer="imgsinkd"):
        for e in read_events(path)[1:]:
            (v,) = e.summary.value
            img = v.image
            pixels = np.asarray(Image.open(io.BytesIO(img.encoded_image_string)))
            if pixels.ndim == 2:
                pixels = pixels[:, :, None]
            assert pixels.shape == (img.height, img.width, img.colorspace)
            out.append((v.tag, e.step, e.wall_time, pixels, img.colorspace))
    return out


def scalar_events(run_dir) -> list:
    """(tag, step, value) of every scalar summary (add_scalar's simple_value) in any event file
    of ``run_dir``, file by file; every file is checked whole as read_events does."""
    out = []
    for path in event_files(run_dir):
        for e in read_events(path)[1:]:
            if e.WhichOneof("what") != "summary":
                continue
            for v in e.summary.value:
                if not v.HasField("image"):
                    out.append((v.tag, e.step, v.simple_value))
    return out


# --- torch.utils.tensorboard's conversion, from its source --------------------------------------

def _make_grid(I, ncols=8):  # _utils.make_grid
    if I.shape[1] == 1:
        I = np.concatenate([I, I, I], 1)
    assert I.ndim == 4 and I.shape[1] == 3
    nimg, H, W = I.shape[0], I.shape[2], I.shape[3]
    ncols = min(nimg, ncols)
    nrows = int(np.ceil(float(nimg) / ncols))
    canvas = np.zeros((3, H * nrows, W * ncols), dtype=I.dtype)
    i = 0
    for y in range(nrows):
        for x in range(ncols):
            if i >= nimg:
                break
            canvas[:, y * H:(y + 1) * H, x * W:(x + 1) * W] = I[i]
            i = i + 1
    return canvas


def _convert_to_hwc(tensor, input_format):  # _utils.convert_to_HWC
    input_format = input_format.upper()
    if len(input_format) == 4:
        index = [input_format.find(c) for c in "NCHW"]
        return _make_grid(tensor.transpose(index)).transpose(1, 2, 0)
    if len(input_format) == 3:
        index = [input_format.find(c) for c in "HWC"]
        t = tensor.transpose(index)
        if t.shape[2] == 1:
            t = np.concatenate([t, t, t], 2)
        return t
    index = [input_format.find(c) for c in "HW"]
    t = tensor.transpose(index)
    return np.stack([t, t, t], 2)


def torch_image(img, dataformats) -> np.ndarray:
    """The HWC uint8 pixels torch's add_image(s) encodes (torch >= 2.0's summary.image():
    make_np, convert_to_HWC, x255 unless uint8, clip(0, 255), astype(uint8))."""
    a = img.detach().cpu().numpy() if hasattr(img, "detach") else np.asarray(img)
    a = _convert_to_hwc(a, dataformats)
    scale = 1 if a.dtype == np.uint8 else 255
    with np.errstate(invalid="ignore"):
        return (a.astype(np.float32) * scale).clip(0, 255).astype(np.uint8)


def installed_torch_image(img, dataformats):
    """(HWC pixels, colorspace) from the installed torch's own summary.image() and PIL, or None
    when its module cannot be loaded.  torch 1.13's image() does not clip: call it with values
    in range only."""
    mod = _load_torch_summary()
    if mod is None:
        return None
    from PIL import Image
    s = mod.image("t", img, dataformats=dataformats)
    im = s.value[0].image
    pixels = np.asarray(Image.open(io.BytesIO(im.encoded_image_string)))
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return pixels, im.colorspace


_summary_mod = []


def _load_torch_summary():
    if _summary_mod:
        return _summary_mod[0]
    mod = None
    try:
        import torch.utils
        base = os.path.join(os.path.dirname(torch.utils.__file__), "tensorboard")
        stub = {"Summary": _SummaryStub}
        for name in ("tensorboard", "tensorboard.compat", "tensorboard.compat.proto",
                     "tensorboard.plugins", "tensorboard.plugins.custom_scalar",
                     "tensorboard.plugins.pr_curve", "tensorboard.plugins.text"):
            sys.modules.setdefault(name, types.ModuleType(name))
        for name in ("tensorboard.compat.proto.summary_pb2", "tensorboard.compat.proto.tensor_pb2",
                     "tensorboard.compat.proto.tensor_shape_pb2",
                     "tensorboard.plugins.custom_scalar.layout_pb2",
                     "tensorboard.plugins.pr_curve.plugin_data_pb2",
                     "tensorboard.plugins.text.plugin_data_pb2"):
            m = sys.modules.setdefault(name, types.ModuleType(name))
            for attr in ("HistogramProto", "SummaryMetadata", "TensorProto", "TensorShapeProto",
                         "PrCurvePluginData", "TextPluginData"):
                setattr(m, attr, object)
            m.Summary = stub["Summary"]
        pkg = types.ModuleType("_torch_tb_ref")
        pkg.__path__ = [base]
        sys.modules["_torch_tb_ref"] = pkg
        for sub in ("_convert_np", "_utils", "summary"):
            spec = importlib.util.spec_from_file_location(f"_torch_tb_ref.{sub}",
                                                          os.path.join(base, sub + ".py"))
            m = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = m
            spec.loader.exec_module(m)
        mod = sys.modules["_torch_tb_ref.summary"]
    except Exception:  # another torch layout: the source-based reference still runs
        mod = None
    _summary_mod.append(mod)
    return mod
