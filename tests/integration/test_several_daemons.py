"""The C++ client with several endpoints against real daemons (push_several): spread shares
saves between them, failover moves to the second daemon when the first is killed."""
import subprocess
from pathlib import Path

from daemon_process import DaemonProcess, bin_dir


class Pusher:
    """push_several as a child process: one batch of saves per call."""

    def __init__(self, endpoints, policy):
        self.proc = subprocess.Popen([str(bin_dir() / "push_several"), "--endpoint",
                                      ",".join(endpoints), "--policy", policy],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline() == "ready\n"

    def push(self, count, prefix):
        """Returns [(path, outcome, endpoint)] for `count` saves made at once."""
        self.proc.stdin.write(f"{count} {prefix}\n")
        self.proc.stdin.flush()
        jobs = []
        for line in iter(self.proc.stdout.readline, ""):
            if line == "done\n":
                return jobs
            jobs.append(tuple(line.split()))
        raise AssertionError(f"push_several exited with {self.proc.wait()}")

    def close(self):
        self.proc.stdin.close()
        assert self.proc.wait(30) == 0


def assert_written_by(jobs, daemons):
    by_endpoint = {d.endpoint: d for d in daemons}
    for path, outcome, endpoint in jobs:
        assert outcome == "ok", (path, outcome, endpoint)
        for d in daemons:
            assert (d.output_root / path).exists() == (d is by_endpoint[endpoint]), (path, endpoint)


def test_spread_shares_saves_between_two_daemons(tmp_path):
    with DaemonProcess(tmp_path / "a") as a, DaemonProcess(tmp_path / "b") as b:
        pusher = Pusher([a.endpoint, b.endpoint], "spread")
        jobs = pusher.push(40, "spread")
        pusher.close()
        a.wait_idle()
        b.wait_idle()
        assert_written_by(jobs, [a, b])
        at_a = sum(1 for _, _, e in jobs if e == a.endpoint)
        # Fewest pending bytes, ties round robin: with equal daemons, close to half each.
        print("spread: at a", at_a, "of", len(jobs))
        assert 10 <= at_a <= 30, at_a


def test_failover_moves_to_the_second_daemon_when_the_first_is_killed(tmp_path):
    with DaemonProcess(tmp_path / "a") as a, DaemonProcess(tmp_path / "b") as b:
        pusher = Pusher([a.endpoint, b.endpoint], "failover")
        before = pusher.push(6, "before")
        assert {e for _, _, e in before} == {a.endpoint}
        a.wait_idle()
        assert_written_by(before, [a, b])
        a.kill()
        after = pusher.push(6, "after")
        pusher.close()
        assert {e for _, _, e in after} == {b.endpoint}
        b.wait_idle()
        assert_written_by(after, [a, b])
