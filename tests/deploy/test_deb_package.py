"""`cpack -G DEB` in the build tree, then the .deb inspected with dpkg-deb.

The package must hold the daemon, its unit, sysusers.d/tmpfiles.d entries, the config (as a
conffile), the client headers and CMake package; its Depends come from dpkg-shlibdeps; its
maintainer scripts must be valid, and postinst must set up the user and directories when run
against the unpacked tree (DPKG_ROOT, as dpkg does for a foreign root).
"""
import os
import re
import stat
import subprocess
import tarfile

import pytest

from conftest import BINARY_DIR, SOURCE_DIR, check, parse_unit, unit_values


def project_version():
    text = (SOURCE_DIR / "CMakeLists.txt").read_text()
    return re.search(r"project\(imgsink VERSION ([0-9.]+)", text).group(1)


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    out = tmp_path_factory.mktemp("cpack")
    check(["cpack", "-G", "DEB", "-B", out], cwd=BINARY_DIR)
    (package,) = list(out.glob("*.deb"))
    return package


@pytest.fixture(scope="module")
def unpacked(deb, tmp_path_factory):
    root = tmp_path_factory.mktemp("unpacked")
    check(["dpkg-deb", "-x", deb, root])
    return root


def field(deb, name):
    return check(["dpkg-deb", "-f", deb, name]).stdout.strip()


def test_control_fields(deb):
    assert deb.name == f"imgsink_{project_version()}_{field(deb, 'Architecture')}.deb"
    assert field(deb, "Package") == "imgsink"
    assert field(deb, "Version") == project_version()
    assert "@" in field(deb, "Maintainer")
    # dpkg-shlibdeps found what imgsinkd links.
    depends = field(deb, "Depends")
    for lib in ["libzmq5", "libpng16-16", "libturbojpeg0", "libisal2", "libwebp7", "libc6"]:
        assert lib in depends, depends
    assert field(deb, "Description").startswith("writes training image tensors")


def test_contents(deb, unpacked):
    listing = check(["dpkg-deb", "-c", deb]).stdout
    files = {line.split()[-1].lstrip(".") for line in listing.splitlines()}
    unit_path = next(f for f in files if f.endswith("/lib/systemd/system/imgsinkd.service"))
    prefix = unit_path[: -len("/lib/systemd/system/imgsinkd.service")]
    argv = unit_values(parse_unit((unpacked / unit_path.lstrip("/")).read_text()),
                       "Service", "ExecStart")[0].split()
    expected = [
        argv[0],  # the binary the unit starts
        argv[2],  # the config it reads
        f"{prefix}/lib/systemd/system/imgsinkd.socket",
        f"{prefix}/lib/sysusers.d/imgsink.conf",
        f"{prefix}/lib/tmpfiles.d/imgsink.conf",
        f"{prefix}/include/imgsink/client.h",
        f"{prefix}/include/imgsink/proto/status.h",
        f"{prefix}/share/doc/imgsink/README.md",
    ]
    for path in expected:
        assert path in files, f"{path} not in the package:\n{listing}"
    assert any(re.fullmatch(rf"{prefix}/lib[^/]*(/[^/]+)?/cmake/imgsink/imgsinkConfig\.cmake", f)
               for f in files), listing
    assert any(f.endswith("/libimgsink_client.a") for f in files), listing
    mode = (unpacked / argv[0].lstrip("/")).stat().st_mode
    assert mode & stat.S_IXUSR, oct(mode)
    # Everything lives under the prefix, except the config when GNUInstallDirs puts it in /etc.
    config_dir = os.path.dirname(argv[2])
    inside = lambda f, d: f == d or f.startswith(d + "/")  # noqa: E731
    strays = [f for f in (f.rstrip("/") for f in files)
              if not any(inside(f, d) or d.startswith(f + "/") for d in (prefix, config_dir))]
    assert not strays, strays


def control_members(deb, tmp_path):
    ctrl = tmp_path / "control.tar"
    with open(ctrl, "wb") as f:
        f.write(check_bytes(["dpkg-deb", "--ctrl-tarfile", deb]))
    with tarfile.open(ctrl) as tar:
        return {m.name.lstrip("./"): (m, tar.extractfile(m).read().decode()) for m in tar
                if m.isfile()}


def check_bytes(cmd):
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True).stdout


def test_maintainer_scripts(deb, unpacked, tmp_path):
    members = control_members(deb, tmp_path)
    unit = next(unpacked.rglob("imgsinkd.service"))
    config = unit_values(parse_unit(unit.read_text()), "Service", "ExecStart")[0].split()[2]
    assert members["conffiles"][1].split() == [config]
    for script in ["postinst", "prerm", "postrm"]:
        info, text = members[script]
        assert info.mode & 0o111 == 0o111, (script, oct(info.mode))
        assert text.startswith("#!/bin/sh\n"), script
        path = tmp_path / script
        path.write_text(text)
        check(["sh", "-n", path])
        assert "@" not in text, f"{script} has an unreplaced @VAR@"
    # postinst names the sysusers.d/tmpfiles.d files where the package puts them.
    for d in ["sysusers.d", "tmpfiles.d"]:
        m = re.search(rf'"\$DPKG_ROOT(/\S+/{d}/imgsink\.conf)"', members["postinst"][1])
        assert m and (unpacked / m.group(1).lstrip("/")).is_file(), d


@pytest.mark.skipif(os.geteuid() != 0, reason="tmpfiles.d chown needs root")
def test_postinst_sets_up_an_unpacked_root(deb, unpacked, tmp_path):
    members = control_members(deb, tmp_path)
    postinst = tmp_path / "postinst"
    postinst.write_text(members["postinst"][1])
    (unpacked / "etc").mkdir(exist_ok=True)
    check(["sh", postinst, "configure", ""], env={**os.environ, "DPKG_ROOT": str(unpacked)})
    passwd = (unpacked / "etc/passwd").read_text()
    assert re.search(r"^imgsink:x:\d+:\d+:", passwd, re.M), passwd
    journal = unpacked / "var/lib/imgsink/journal"
    assert stat.S_IMODE(journal.stat().st_mode) == 0o700


def python_package_dir(files, prefix):
    """The directory of the Python client in the package: where Debian's python3 imports it."""
    inits = [f for f in files if f.endswith("/imgsink/__init__.py")]
    assert len(inits) == 1, inits
    pkg = os.path.dirname(os.path.dirname(inits[0]))
    assert re.fullmatch(rf"{prefix}/lib/python3(\.\d+)?/dist-packages", pkg), pkg
    return pkg


def test_the_python_client_is_in_the_package(deb):
    listing = check(["dpkg-deb", "-c", deb]).stdout
    files = {line.split()[-1].lstrip(".") for line in listing.splitlines()}
    unit = next(f for f in files if f.endswith("/lib/systemd/system/imgsinkd.service"))
    prefix = unit[: -len("/lib/systemd/system/imgsinkd.service")]
    pkg = python_package_dir(files, prefix)
    sources = sorted(p.name for p in (SOURCE_DIR / "client" / "python" / "imgsink").iterdir()
                     if p.suffix == ".py" or p.name == "py.typed")
    shipped = sorted(os.path.basename(f) for f in files if f.startswith(pkg + "/imgsink/")
                     and not f.endswith("/"))
    assert shipped == sources, (shipped, sources)
    # Debian's python3 looks there: /usr/lib/python3/dist-packages for a /usr package, else
    # /usr/local/lib/python3.X/dist-packages.
    paths = check(["/usr/bin/python3", "-c", "import sys; print('\\n'.join(sys.path))"]).stdout
    if prefix in ("/usr", "/usr/local"):
        assert pkg in paths.split(), (pkg, paths)
    recommends = field(deb, "Recommends")
    for dep in ["python3", "python3-numpy", "python3-zmq", "python3-msgpack"]:
        assert dep in recommends, recommends


def test_the_unpacked_tree_imports_and_saves_through_its_own_daemon(deb, unpacked, tmp_path):
    from python_smoke import run_smoke

    listing = check(["dpkg-deb", "-c", deb]).stdout
    files = {line.split()[-1].lstrip(".") for line in listing.splitlines()}
    unit = next(f for f in files if f.endswith("/lib/systemd/system/imgsinkd.service"))
    prefix = unit[: -len("/lib/systemd/system/imgsinkd.service")]
    pkg = unpacked / python_package_dir(files, prefix).lstrip("/")
    daemon = unpacked / prefix.lstrip("/") / "bin" / "imgsinkd"
    run_smoke("/usr/bin/python3", pkg, daemon, tmp_path, extra_env={"PYTHONPATH": str(pkg)})
