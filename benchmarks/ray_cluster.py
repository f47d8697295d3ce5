"""A Ray cluster of several nodes on this machine, for benchmarks: ``ray start --head`` and
``ray start --address`` worker nodes, each with its own CPU count, stopped on exit.

Every node runs ``ray start --block`` in a session of its own, so stopping the cluster ends
exactly the processes this cluster started (their process groups), never another Ray on the
machine, as ``ray stop`` would. Ports are free ones picked here and the temporary folder is the
cluster's own, so two clusters (or another user's Ray) do not meet.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _agent_ports() -> list[str]:
    """Each node's agents on ports of their own (the defaults would collide on one machine)."""
    return [
        f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}",
        f"--metrics-export-port={free_port()}",
    ]


class NodeExited(RuntimeError):
    """A ``ray start`` of the cluster ended (it gave up starting, or failed)."""


def _stop_group(proc: subprocess.Popen) -> None:
    """End a node's process group (SIGTERM, then SIGKILL)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=15)
            return
        except subprocess.TimeoutExpired:
            continue


class LocalCluster:
    """``with LocalCluster(head_cpus, worker_cpus, temp_dir) as c:`` -- ``c.address`` is the
    head's ``host:port``; ``c.commands`` the ``ray start`` lines it ran (for the README)."""

    def __init__(self, head_cpus: int, worker_cpus: tuple[int, ...], temp_dir: Path, timeout: float = 600.0):
        self.head_cpus, self.worker_cpus, self.temp_dir, self.timeout = head_cpus, worker_cpus, Path(temp_dir), timeout
        # a home of its own: Ray keeps its authentication token there (~/.ray), apart from any other Ray's
        self.home = self.temp_dir / "home"
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []
        self.commands: list[str] = []
        self.last_check = ""

    def _start(self, args: list[str], ports: list[str] = ()) -> None:
        """One node: ``ray start ARGS`` (what the README shows) on ports of its own."""
        env = self.env()
        cmd = [
            RAY,
            "start",
            *args,
            "--node-ip-address=127.0.0.1",
            "--disable-usage-stats",
            "--block",
            *ports,
            *_agent_ports(),
        ]
        self.commands.append(" ".join(["ray", "start", *args]))
        log = open(self.temp_dir / f"node{len(self.procs)}.log", "w")  # noqa: SIM115 - closed with the process
        self.procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    def env(self) -> dict:
        """The environment of the cluster's processes, and of a driver that joins it."""
        return {
            **os.environ,
            "HOME": str(self.home),
            "RAY_USAGE_STATS_ENABLED": "0",
            "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        }

    def __enter__(self) -> LocalCluster:
        self.home.mkdir(parents=True, exist_ok=True)
        try:
            self._start_nodes()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start_nodes(self) -> None:
        self._node(
            [
                "--head",
                f"--port={self.port}",
                f"--num-cpus={self.head_cpus}",
                "--include-dashboard=false",
                f"--temp-dir={self.temp_dir}",
            ],
            self.head_cpus,
            [f"--dashboard-port={free_port()}"],
        )
        total = self.head_cpus
        for cpus in self.worker_cpus:  # one at a time: a busy machine times out nodes that start together
            total += cpus
            self._node([f"--address={self.address}", f"--num-cpus={cpus}"], total)

    def _node(self, args: list[str], cpus: int, ports: list[str] = (), attempts: int = 3) -> None:
        """Start a node and wait until the cluster has ``cpus`` CPUs; again when it gave up
        starting (Ray allows a node 30 s to register, which a loaded machine may exceed)."""
        for attempt in range(attempts):
            self._start(args, ports)
            try:
                return self._wait(cpus)
            except NodeExited:
                if attempt == attempts - 1:
                    raise
                self.commands.pop()
                _stop_group(self.procs.pop())

    def _wait(self, cpus: int) -> None:
        """Until the head answers and the cluster has ``cpus`` CPUs (every node joined)."""
        deadline = time.monotonic() + self.timeout
        script = (
            f"import ray; ray.init(address='{self.address}', logging_level='ERROR', log_to_driver=False); "
            "print(int(ray.cluster_resources().get('CPU', 0)), len([n for n in ray.nodes() if n['Alive']]))"
        )
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                raise NodeExited(f"a Ray node exited; see {self.temp_dir}/node*.log")
            try:
                out = subprocess.run(
                    [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=self.env()
                )
            except subprocess.TimeoutExpired:  # the head is not answering yet (a busy machine)
                continue
            self.last_check = out.stderr[-2000:]
            fields = out.stdout.split()
            if (
                out.returncode == 0
                and len(fields) == 2
                and int(fields[0]) == cpus
                and int(fields[1]) == len(self.procs)
            ):
                return
            time.sleep(2.0)
        raise RuntimeError(f"the Ray cluster at {self.address} did not come up with {cpus} CPUs: {self.last_check}")

    def __exit__(self, *exc: object) -> None:
        """Stop every node: their process groups, then any process left under the temporary folder."""
        for p in reversed(self.procs):  # the workers first, the head last
            _stop_group(p)
        self._kill_leftovers()

    def _kill_leftovers(self) -> None:
        """Processes of this cluster that left its process groups (found by its temporary folder)."""
        out = subprocess.run(["pgrep", "-f", str(self.temp_dir)], capture_output=True, text=True)
        for pid in (int(x) for x in out.stdout.split()):
            if pid != os.getpid():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
