"""A real single-node Slurm cluster for tests (Debian, as root).

`SlurmCluster.start()` installs Debian's packages when missing (slurmd slurmctld slurm-client
munge slurmdbd mariadb-server), writes slurm.conf / slurmdbd.conf for one node on 127.0.0.1
(CPUs=2, partition `debug`, select/cons_tres, proctrack/linuxproc, task/none, accounting through
slurmdbd on port 6819; JobRequeue=0, so only jobs that ask for --requeue can be requeued) into a
private state directory, starts munged, mariadbd (private data directory and port), slurmdbd,
slurmctld and slurmd in the foreground (so their pids are known), registers the cluster with
sacctmgr and waits for the node to be idle. `stop()` cancels the cluster's jobs and stops exactly
the daemons it started, by pid. Client commands find the cluster through `SLURM_CONF`, which
`start()` sets in this process's environment (jobs and subprocesses inherit it).

Run by hand: `python tests/slurm_cluster.py` starts a cluster and keeps it up until Ctrl-C or
SIGTERM.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PACKAGES = ("slurmd", "slurmctld", "slurm-client", "munge", "slurmdbd", "mariadb-server")
CLUSTER_NAME = "videossl"
DBD_PORT = 6819
DB_USER, DB_PASS = "slurm", "videossl-test"
# Slurm 22.05's accounting clients ignore AuthInfo=socket=..., so munged uses the default socket.
MUNGE_SOCKET = "/run/munge/munge.socket.2"


def unavailable_reason() -> str | None:
    """Why a cluster cannot be started here, or None when it can."""
    if os.environ.get("VIDEOSSL_SLURM_TESTS") != "1":
        return (
            "real-Slurm tests install system packages (slurm-wlm, munge, MariaDB) with apt-get: "
            "set VIDEOSSL_SLURM_TESTS=1 to allow it (.ci/run does)"
        )
    if sys.platform != "linux":
        return "a local Slurm cluster needs Linux"
    if os.geteuid() != 0:
        return "starting a local Slurm cluster needs root (apt-get install and daemons)"
    if shutil.which("apt-get") is None and not _installed():
        return "apt-get is unavailable to install Slurm (not a Debian-like system)"
    return None


def _installed() -> bool:
    tools = ("slurmd", "slurmctld", "slurmdbd", "sbatch", "sacctmgr", "munged", "mariadbd")
    return all(shutil.which(t) or os.path.exists(f"/usr/sbin/{t}") for t in tools)


def _log(msg: str) -> None:
    print(f"[slurm-cluster] {msg}", file=sys.stderr, flush=True)


def install_packages() -> None:
    """apt-get update + install of the Slurm packages; a no-op when they are installed."""
    if _installed():
        _log("Slurm packages already installed")
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    _log("apt-get update ...")
    subprocess.run(["apt-get", "update"], check=True, env=env)
    _log(f"apt-get install {' '.join(PACKAGES)} ... (about a minute)")
    subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES], check=True, env=env
    )
    _log("packages installed")


def _free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlurmCluster:
    """One node (this host, 127.0.0.1), CPUs=2, partition `debug`, accounting on."""

    def __init__(self, state_dir: str | None = None, cpus: int = 2) -> None:
        self.state = Path(state_dir or tempfile.mkdtemp(prefix="videossl-slurm-"))
        self.cpus = cpus
        self.node = socket.gethostname()
        self.conf = self.state / "slurm.conf"
        self.munge_socket = Path(MUNGE_SOCKET)
        self.db_port = _free_port()
        self.procs: dict[str, subprocess.Popen] = {}
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))

    # ---- set-up ---------------------------------------------------------------------------
    def start(self, timeout_s: float = 120) -> SlurmCluster:
        for port in (6817, 6818, DBD_PORT):
            if not _free(port):
                raise RuntimeError(f"Port {port} is in use: is another Slurm running here?")
        install_packages()
        os.chmod(self.state, 0o755)
        try:
            self._write_configs()
            self._start_munge()
            self._start_mariadb(timeout_s)
            self._start("slurmdbd", ["slurmdbd", "-D"])
            self._wait(self._dbd_ready, timeout_s, "slurmdbd to answer")
            self._run(["sacctmgr", "-i", "add", "cluster", CLUSTER_NAME])
            self._start("slurmctld", ["slurmctld", "-D", "-f", str(self.conf)])
            self._start("slurmd", ["slurmd", "-D", "-f", str(self.conf)])
            self._wait(self._node_idle, timeout_s, "the node to become idle")
        except BaseException:
            self.stop()
            raise
        os.environ["SLURM_CONF"] = str(self.conf)
        _log(f"cluster up: node {self.node}, state in {self.state}")
        return self

    def _write_configs(self) -> None:
        for sub in ("ctld", "d", "log", "munge", "db"):
            (self.state / sub).mkdir(exist_ok=True)
        shutil.chown(self.state / "munge", "munge", "munge")
        os.chmod(self.state / "munge", 0o755)
        shutil.chown(self.state / "db", "mysql", "mysql")
        s, log = self.state, self.state / "log"
        auth = "AuthType=auth/munge\n"
        self.conf.write_text(
            f"ClusterName={CLUSTER_NAME}\nSlurmctldHost={self.node}(127.0.0.1)\n{auth}"
            "SlurmUser=root\nSlurmdUser=root\nSlurmctldPort=6817\nSlurmdPort=6818\n"
            f"StateSaveLocation={s}/ctld\nSlurmdSpoolDir={s}/d\n"
            f"SlurmctldPidFile={s}/slurmctld.pid\nSlurmdPidFile={s}/slurmd.pid\n"
            f"SlurmctldLogFile={log}/slurmctld.log\nSlurmdLogFile={log}/slurmd.log\n"
            "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nMpiDefault=none\n"
            "SelectType=select/cons_tres\nSelectTypeParameters=CR_CPU\n"
            "SchedulerType=sched/backfill\nSchedulerParameters=sched_interval=2,bf_interval=2\n"
            "JobAcctGatherType=jobacct_gather/none\n"
            "AccountingStorageType=accounting_storage/slurmdbd\n"
            f"AccountingStorageHost=127.0.0.1\nAccountingStoragePort={DBD_PORT}\n"
            "JobRequeue=0\nReturnToService=2\nKillWait=5\nMinJobAge=600\nInactiveLimit=0\n"
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} State=UNKNOWN\n"
            "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n"
        )
        dbd = s / "slurmdbd.conf"
        dbd.write_text(
            f"{auth}DbdHost=localhost\nDbdAddr=127.0.0.1\nDbdPort={DBD_PORT}\nSlurmUser=root\n"
            f"LogFile={log}/slurmdbd.log\nPidFile={s}/slurmdbd.pid\n"
            "StorageType=accounting_storage/mysql\n"
            f"StorageHost=127.0.0.1\nStoragePort={self.db_port}\n"
            f"StorageUser={DB_USER}\nStoragePass={DB_PASS}\nStorageLoc=slurm_acct_db\n"
        )
        os.chmod(dbd, 0o600)

    def _start(self, name: str, cmd: list[str], **kw) -> None:
        _log(f"starting {name}")
        out = open(self.state / "log" / f"{name}.out", "ab")
        self.procs[name] = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env, start_new_session=True, **kw
        )
        out.close()

    def _start_munge(self) -> None:
        if self._munge_ok():
            _log("reusing the munged that is already running (it will be left running)")
            return
        m = self.state / "munge"
        os.makedirs(os.path.dirname(MUNGE_SOCKET), exist_ok=True)
        shutil.chown(os.path.dirname(MUNGE_SOCKET), "munge", "munge")
        self._start(
            "munged",
            ["munged", "-F", f"--socket={self.munge_socket}", f"--pid-file={m}/munged.pid",
             f"--log-file={m}/munged.log", f"--seed-file={m}/munged.seed"],
            user="munge", group="munge",
        )  # fmt: skip
        self._wait(self._munge_ok, 30, "munged to answer")

    def _start_mariadb(self, timeout_s: float) -> None:
        db, sock = self.state / "db", self.state / "db" / "mysqld.sock"
        _log("initialising a private MariaDB data directory")
        self._run(
            ["mariadb-install-db", "--no-defaults", "--user=mysql", f"--datadir={db}/data",
             "--auth-root-authentication-method=socket", "--skip-test-db"],
        )  # fmt: skip
        self._start(
            "mariadbd",
            ["mariadbd", "--no-defaults", "--user=mysql", f"--datadir={db}/data",
             f"--socket={sock}", f"--port={self.db_port}", "--bind-address=127.0.0.1",
             "--skip-name-resolve", f"--pid-file={db}/mariadbd.pid", f"--log-error={db}/err.log"],
        )  # fmt: skip
        self._wait(sock.exists, timeout_s, "mariadbd's socket")
        grants = "".join(
            f"CREATE USER IF NOT EXISTS '{DB_USER}'@'{h}' IDENTIFIED BY '{DB_PASS}';"
            f"GRANT ALL ON slurm_acct_db.* TO '{DB_USER}'@'{h}';"
            for h in ("127.0.0.1", "localhost")
        )
        self._run(["mariadb", "--no-defaults", f"--socket={sock}", "-u", "root", "-e", grants])

    # ---- checks ---------------------------------------------------------------------------
    def _run(self, cmd: list[str], check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, check=check)

    def _munge_ok(self) -> bool:
        return self._run(["munge", "-n"], check=False).returncode == 0

    def _dbd_ready(self) -> bool:
        return self._run(["sacctmgr", "-n", "list", "cluster"], check=False).returncode == 0

    def _node_idle(self) -> bool:
        out = self._run(["sinfo", "-h", "-o", "%t"], check=False)
        return out.returncode == 0 and out.stdout.strip() == "idle"

    def _wait(self, ready, timeout_s: float, what: str) -> None:
        end = time.time() + timeout_s
        while time.time() < end:
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(f"{dead} exited while waiting for {what}; {self.logs_hint()}")
            if ready():
                return
            time.sleep(0.5)
        raise TimeoutError(f"Timed out after {timeout_s}s waiting for {what}; {self.logs_hint()}")

    def logs_hint(self) -> str:
        return f"see the logs under {self.state}/log, {self.state}/munge and {self.state}/db"

    def squeue_empty(self) -> bool:
        out = self._run(["squeue", "-h", "-o", "%i"], check=False)
        return out.returncode == 0 and not out.stdout.strip()

    # ---- tear-down ------------------------------------------------------------------------
    def stop(self) -> None:
        """Cancel this cluster's jobs, then stop the daemons started here (by pid)."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            self._run(["scancel", "--full", "--user", "root"], check=False)
            end = time.time() + 20
            while time.time() < end and not self.squeue_empty():
                time.sleep(0.5)
        for name in ("slurmd", "slurmctld", "slurmdbd", "mariadbd", "munged"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            _log(f"stopping {name} (pid {proc.pid})")
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if os.environ.get("SLURM_CONF") == str(self.conf):
            del os.environ["SLURM_CONF"]


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    cluster = SlurmCluster().start()
    print(f"export SLURM_CONF={cluster.conf}  # Ctrl-C (or SIGTERM) stops it", flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
