"""The systemd unit, its drop-in, sysusers.d/tmpfiles.d entries and the example config.

systemd-analyze verify checks the unit the way systemd loads it (unknown keys, bad values,
missing ExecStart binaries, dependencies, recursively); systemd-analyze security --offline
scores the sandbox.  Neither needs a running systemd.  verify insists that ExecStart's binary
exists, so it runs on a DESTDIR install with ExecStart pointed into the staging tree (the test
first checks the binary is staged exactly where the unit says).
"""
import os
import pathlib
import re
import shutil
import stat
import tomllib

import pytest

from conftest import (BINARY_DIR, SOURCE_DIR, check, parse_unit, run, staged_install,
                      unit_values)

GENERATED_UNIT = BINARY_DIR / "deploy" / "imgsinkd.service"
TCP_DROPIN = SOURCE_DIR / "deploy" / "systemd" / "imgsinkd-tcp.conf"
METRICS_DROPIN = SOURCE_DIR / "deploy" / "systemd" / "imgsinkd-metrics.conf"
S3_DROPIN = SOURCE_DIR / "deploy" / "systemd" / "imgsinkd-s3.conf"
SYSUSERS = SOURCE_DIR / "deploy" / "systemd" / "imgsink.sysusers"
TMPFILES = SOURCE_DIR / "deploy" / "systemd" / "imgsinkd.tmpfiles"
EXAMPLE_CONFIG = SOURCE_DIR / "deploy" / "imgsinkd.toml.example"

# Exposure limits (systemd-analyze security, 0 = locked down, 10 = unprotected).  The issue asks
# for <= 2.0; the shipped (ipc-only) unit measures 0.2, with the tcp or metrics drop-in 1.0 on
# systemd 252 (deploy/README.md).  Loosening the sandbox past these is a decision, not an accident.
MAX_EXPOSURE_IPC = 1.0
MAX_EXPOSURE_TCP = 2.0


def unit_dir(tmp_path, unit_text, dropins=()):
    """Writes imgsinkd.service (and its drop-ins) into a fresh dir; returns the unit's path."""
    d = tmp_path / "units"
    d.mkdir()
    unit = d / "imgsinkd.service"
    unit.write_text(unit_text)
    if dropins:
        (d / "imgsinkd.service.d").mkdir()
        for src in dropins:
            shutil.copy(src, d / "imgsinkd.service.d" / pathlib.Path(src).name)
    return unit


def exposure(unit, threshold):
    """Runs systemd-analyze security --offline; returns (exit code, overall exposure, output)."""
    p = run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
             f"--threshold={round(threshold * 10)}", unit])
    m = re.search(r"Overall exposure level for imgsinkd\.service: ([0-9.]+)", p.stdout)
    assert m, p.stdout + p.stderr
    return p.returncode, float(m.group(1)), p.stdout


def exec_start(sections):
    (line,) = unit_values(sections, "Service", "ExecStart")
    return line.split()


@pytest.mark.parametrize("dropins,limit", [((), MAX_EXPOSURE_IPC),
                                           ((TCP_DROPIN,), MAX_EXPOSURE_TCP),
                                           ((METRICS_DROPIN,), MAX_EXPOSURE_TCP),
                                           ((TCP_DROPIN, METRICS_DROPIN), MAX_EXPOSURE_TCP),
                                           ((S3_DROPIN,), MAX_EXPOSURE_TCP)],
                         ids=["ipc", "tcp-dropin", "metrics-dropin", "both-dropins", "s3-dropin"])
def test_security_exposure_within_target(tmp_path, dropins, limit):
    unit = unit_dir(tmp_path, GENERATED_UNIT.read_text(), dropins)
    rc, score, out = exposure(unit, limit)
    print(f"exposure {score}")
    assert score <= limit, out
    assert rc == 0, out  # --threshold agrees


def test_security_check_can_fail(tmp_path):
    # The same check on an unhardened unit must fail, or the test above proves nothing.
    text = "\n".join(l for l in GENERATED_UNIT.read_text().splitlines()
                     if not l.startswith(("Protect", "Private", "Restrict", "SystemCall",
                                          "Capability", "NoNewPrivileges")))
    rc, score, _ = exposure(unit_dir(tmp_path, text), MAX_EXPOSURE_TCP)
    assert score > MAX_EXPOSURE_TCP and rc != 0


@pytest.fixture(scope="module")
def staged_daemon(tmp_path_factory):
    root = tmp_path_factory.mktemp("daemon-root")
    staged_install(root, "daemon")
    return root


def staged_unit(root, install_prefix):
    return root / install_prefix.lstrip("/") / "lib/systemd/system/imgsinkd.service"


def test_unit_paths_match_the_install(staged_daemon, install_prefix):
    unit = staged_unit(staged_daemon, install_prefix)
    argv = exec_start(parse_unit(unit.read_text()))
    binary = staged_daemon / argv[0].lstrip("/")
    assert binary.is_file() and os.access(binary, os.X_OK), argv[0]
    assert argv[1] == "--config", argv
    assert (staged_daemon / argv[2].lstrip("/")).is_file(), argv[2]
    for d, name in [("lib/sysusers.d", "imgsink.conf"), ("lib/tmpfiles.d", "imgsink.conf")]:
        assert (staged_daemon / install_prefix.lstrip("/") / d / name).is_file()


@pytest.mark.parametrize("dropins", [(), (TCP_DROPIN, METRICS_DROPIN, S3_DROPIN)],
                         ids=["unit", "unit+dropins"])
def test_systemd_analyze_verify(tmp_path, staged_daemon, install_prefix, dropins):
    text = staged_unit(staged_daemon, install_prefix).read_text()
    binary = exec_start(parse_unit(text))[0]
    text = text.replace(f"={binary} ", f"={staged_daemon}{binary} ")  # ExecStart, ExecReload
    unit = unit_dir(tmp_path, text, dropins)
    p = run(["systemd-analyze", "verify", "--man=no", "--recursive-errors=yes", unit])
    # verify prints a line for every problem, some of which do not change its exit code.
    assert p.returncode == 0 and p.stdout + p.stderr == "", p.stdout + p.stderr


def test_socket_unit_verifies_and_matches_the_config(tmp_path, staged_daemon, install_prefix):
    service = staged_unit(staged_daemon, install_prefix)
    socket_unit = service.with_name("imgsinkd.socket")
    assert socket_unit.is_file(), "cmake --install must ship imgsinkd.socket next to the service"
    text = service.read_text()
    binary = exec_start(parse_unit(text))[0]
    unit = unit_dir(tmp_path, text.replace(f"={binary} ", f"={staged_daemon}{binary} "))
    shutil.copy(socket_unit, unit.with_name("imgsinkd.socket"))
    p = run(["systemd-analyze", "verify", "--man=no", "--recursive-errors=yes",
             unit.with_name("imgsinkd.socket")])
    assert p.returncode == 0 and p.stdout + p.stderr == "", p.stdout + p.stderr
    # The socket is the one the example config listens on, in the service's RuntimeDirectory,
    # which the service keeps across restarts (the socket unit owns the file).
    sock = parse_unit(socket_unit.read_text())
    (listen,) = unit_values(sock, "Socket", "ListenStream")
    assert tomllib.loads(EXAMPLE_CONFIG.read_text())["listen"] == [f"ipc://{listen}"]
    svc = parse_unit(text)
    assert listen.startswith("/run/" + unit_values(svc, "Service", "RuntimeDirectory")[0] + "/")
    assert unit_values(svc, "Service", "RuntimeDirectoryPreserve") == ["yes"]
    assert unit_values(sock, "Socket", "SocketGroup") == unit_values(svc, "Service", "Group")


def test_verify_can_fail(tmp_path, staged_daemon, install_prefix):
    text = staged_unit(staged_daemon, install_prefix).read_text()
    unit = unit_dir(tmp_path, text.replace("ProtectProc=invisible", "ProtectProc=invisibel"))
    p = run(["systemd-analyze", "verify", "--man=no", "--recursive-errors=yes", unit])
    assert "invisibel" in p.stderr


def test_unit_matches_the_daemon_contract():
    s = parse_unit(GENERATED_UNIT.read_text())
    svc = lambda key: unit_values(s, "Service", key)  # noqa: E731
    assert svc("Type") == ["notify"] and svc("NotifyAccess") == ["main"]
    # A bad config fails `systemctl reload` before the daemon gets SIGHUP.
    assert svc("ExecReload") == [" ".join(exec_start(s)) + " --check-config",
                                 "/bin/kill -HUP $MAINPID"]
    assert int(svc("WatchdogSec")[0]) > 0
    assert int(svc("TimeoutStopSec")[0]) >= 60  # a drain writes every accepted job
    assert svc("Restart") == ["on-failure"]
    assert svc("User") == ["imgsink"] and svc("Group") == ["imgsink"]
    # The sysusers entry creates exactly that user (and its group).
    users = [l.split() for l in SYSUSERS.read_text().splitlines() if l.startswith("u ")]
    assert [u[1] for u in users] == ["imgsink"]


def test_example_config_fits_the_sandbox():
    """What the service's config names must be writable inside the unit's sandbox."""
    s = parse_unit(GENERATED_UNIT.read_text())
    runtime = "/run/" + unit_values(s, "Service", "RuntimeDirectory")[0]
    state = "/var/lib/" + unit_values(s, "Service", "StateDirectory")[0]
    config = tomllib.loads(EXAMPLE_CONFIG.read_text())
    for endpoint in config["listen"]:
        assert endpoint.startswith(f"ipc://{runtime}/"), endpoint
    for key in ("output_root", "journal_dir"):
        assert config[key].startswith(state + "/"), (key, config[key])
    # tmpfiles.d creates both with the intended modes: images group-readable, journal private.
    modes = {l.split()[1]: l.split()[2] for l in TMPFILES.read_text().splitlines()
             if l.startswith("d ")}
    assert modes[config["output_root"]] == "0750"
    assert modes[config["journal_dir"]] == "0700"


def test_example_config_names_every_daemon_option():
    help_text = check([BINARY_DIR / "bin" / "imgsinkd", "--help"]).stdout
    options = set(re.findall(r"--([a-z][a-z0-9-]+)", help_text))
    assert {"listen", "output-root", "workers"} <= options, help_text
    keys = set(re.findall(r"^#?([a-z0-9_]+) = ", EXAMPLE_CONFIG.read_text(), re.M))
    missing = {o for o in options - {"help", "version", "config", "check-config"}
               if o.replace("-", "_") not in keys}
    assert not missing, f"deploy/imgsinkd.toml.example lacks {sorted(missing)}"


def check_config(tmp_path, text):
    """The daemon's effective configuration for config `text` (imgsinkd --check-config)."""
    imgsinkd = BINARY_DIR / "bin" / "imgsinkd"
    if "--check-config" not in check([imgsinkd, "--help"]).stdout:
        pytest.skip("imgsinkd has no --check-config yet")
    path = tmp_path / "imgsinkd.toml"
    path.write_text(text)
    return tomllib.loads(check([imgsinkd, "--config", path, "--check-config"]).stdout)


def test_example_config_is_accepted_by_the_daemon(tmp_path):
    text = EXAMPLE_CONFIG.read_text()
    effective = check_config(tmp_path, text)
    for key, value in tomllib.loads(text).items():
        assert effective[key] == value, key


def test_example_config_comments_show_the_defaults(tmp_path):
    # Uncommenting every "#key = value" line the daemon knows must change nothing.  (Empty
    # strings are left commented: test_empty_string_value_in_config covers them.)
    text = EXAMPLE_CONFIG.read_text()
    help_text = check([BINARY_DIR / "bin" / "imgsinkd", "--help"]).stdout
    known = {o.replace("-", "_") for o in re.findall(r"--([a-z][a-z0-9-]+)", help_text)}
    uncomment = lambda m: m.group(1) if m.group(2) in known else m.group(0)  # noqa: E731
    uncommented = re.sub(r'^#(([a-z0-9_]+) = (?!""$).*)$', uncomment, text, flags=re.M)
    assert uncommented.count("\n#") < text.count("\n#") - 5
    assert check_config(tmp_path, uncommented) == check_config(tmp_path, text)


def test_empty_string_value_in_config(tmp_path):
    effective = check_config(tmp_path, 'ipc_group = ""\nipc_mode = "0660"\n')
    assert (effective["ipc_group"], effective["ipc_mode"]) == ("", "0660")


@pytest.mark.skipif(os.geteuid() != 0, reason="tmpfiles.d chown needs root")
def test_sysusers_and_tmpfiles_create_the_layout(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    check(["systemd-sysusers", f"--root={root}", SYSUSERS])
    passwd = {l.split(":")[0]: l.split(":") for l in (root / "etc/passwd").read_text().splitlines()}
    group = {l.split(":")[0]: l.split(":") for l in (root / "etc/group").read_text().splitlines()}
    uid, gid = int(passwd["imgsink"][2]), int(passwd["imgsink"][3])
    assert int(group["imgsink"][2]) == gid and uid != 0
    assert passwd["imgsink"][6].endswith("nologin")

    check(["systemd-tmpfiles", f"--root={root}", "--create", TMPFILES])
    for path, mode in [("var/lib/imgsink", 0o750), ("var/lib/imgsink/journal", 0o700),
                       ("var/lib/imgsink/out", 0o750)]:
        st = (root / path).stat()
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (mode, uid, gid), path
