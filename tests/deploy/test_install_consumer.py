"""`cmake --install` of the C++ client, then a separate project that find_package()s it.

The install goes to a staging prefix chosen at install time (--prefix), under DESTDIR so
nothing outside the temp dir is touched whatever prefix the build was configured with.  The
consumer (tests/deploy/consumer/) compiles and links against the staged package only, then
runs against an endpoint where no daemon listens.
"""
import os

from conftest import SOURCE_DIR, check, run, staged_install

PREFIX = "/opt/imgsink-staging"  # not the configured prefix: the package must be relocatable

HEADERS = ["client.h", "endpoint.h", "tensor_view.h",
           "proto/codec.h", "proto/endpoint.h", "proto/messages.h", "proto/paths.h",
           "proto/status.h", "proto/types.h"]


def find_one(root, pattern):
    (found,) = list(root.rglob(pattern))
    return found


def test_install_then_build_a_consumer(tmp_path):
    destdir = tmp_path / "root"
    staged_install(destdir, "dev", prefix=PREFIX)
    prefix = destdir / PREFIX.lstrip("/")

    for h in HEADERS:
        assert (prefix / "include" / "imgsink" / h).is_file(), h
    for lib in ["client", "proto", "endpoint"]:
        assert find_one(prefix, f"libimgsink_{lib}.a").is_file()
    config = find_one(prefix, "imgsinkConfig.cmake")
    assert (config.parent / "imgsinkConfigVersion.cmake").is_file()
    # The dev component is the client only: no daemon, no unit.
    assert not list(prefix.rglob("imgsinkd*"))
    # Every exported library asks its consumers for C++17 (the consumer asks for C++14).
    targets = (config.parent / "imgsinkTargets.cmake").read_text()
    for lib in ["client", "proto", "endpoint"]:
        block = targets.split(f"add_library(imgsink::{lib} ", 1)[1].split("add_library(", 1)[0]
        assert "cxx_std_17" in block, lib

    build = tmp_path / "consumer-build"
    env = {k: v for k, v in os.environ.items() if k != "DESTDIR"}
    # Only the staged prefix: find_package must not reach back into the build tree.
    check(["cmake", "-S", SOURCE_DIR / "tests/deploy/consumer", "-B", build, "-G", "Ninja",
           f"-DCMAKE_PREFIX_PATH={prefix}", "-DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON"],
          env=env)
    check(["cmake", "--build", build], env=env)

    socket_dir = tmp_path / "no-daemon"
    p = run([build / "imgsink_consumer", f"ipc://{socket_dir}/imgsinkd.sock"], env=env, timeout=60)
    print(p.stdout, p.stderr)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "ok   save_image(no daemon): disconnected" in p.stdout


def test_version_file_refuses_another_minor(tmp_path):
    destdir = tmp_path / "root"
    staged_install(destdir, "dev", prefix=PREFIX)
    prefix = destdir / PREFIX.lstrip("/")
    project = tmp_path / "wants-99"
    project.mkdir()
    (project / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.18)\nproject(p LANGUAGES CXX)\n"
        "find_package(imgsink 99.0 REQUIRED)\n")
    p = run(["cmake", "-S", project, "-B", tmp_path / "b", f"-DCMAKE_PREFIX_PATH={prefix}"])
    assert p.returncode != 0 and "imgsink" in p.stderr, p.stderr
