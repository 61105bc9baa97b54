"""Run untrusted generated code (HumanEval completions) where it can do no harm.

Each program runs in its own process tree: ``unshare`` gives it new PID and network namespaces
(no network at all, not even 127.0.0.1 of the host; when the namespace's first process ends the
kernel kills every other one, so nothing survives), it drops to an unprivileged user (root, as
CI runs, ignores ``RLIMIT_NPROC``), with limits on CPU time, address space, file size, processes
and open files, in a fresh temporary folder, under a wall-clock timeout after which its whole
process group is killed. Output goes to a file capped by the file-size limit.

Where namespaces cannot be made (a container without the privilege), or when not running as
root (no user to drop to), running is refused unless ``EVALHARNESS_UNSAFE_SANDBOX=1`` is set.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from evalharness.errors import ConfigError

UNSAFE_VAR = "EVALHARNESS_UNSAFE_SANDBOX"
NOBODY = 65534
PYTHON_VAR = "EVALHARNESS_SANDBOX_PYTHON"


def _open_to_all(path: str) -> bool:
    """Whether every folder above ``path`` and the file itself can be run by any user."""
    real = Path(os.path.realpath(path))
    try:
        parts = [*real.parents, real]
        return all(part.stat().st_mode & 0o001 for part in parts)
    except OSError:
        return False


def sandbox_python() -> str:
    """The interpreter the program runs under (stdlib only): ``$EVALHARNESS_SANDBOX_PYTHON``,
    else ours if the unprivileged user can run it (a pyenv under /root cannot), else the
    system's ``python3``."""
    chosen = os.environ.get(PYTHON_VAR)
    if chosen:
        return chosen
    for candidate in (getattr(sys, "_base_executable", sys.executable), "/usr/bin/python3"):
        if _open_to_all(candidate):
            return os.path.realpath(candidate)
    raise ConfigError(f"no Python the sandbox user may run; set {PYTHON_VAR}")


NAMESPACES = ["unshare", "--pid", "--net", "--fork", "--kill-child", "--"]

# Runs inside the namespaces as root, drops to the unprivileged user with limits, then execs.
_LAUNCHER = """\
import os, resource, sys
cpu, mem, fsize, nproc, uid = (int(v) for v in sys.argv[1:6])
for res, value in ((resource.RLIMIT_CPU, cpu), (resource.RLIMIT_AS, mem),
                   (resource.RLIMIT_FSIZE, fsize), (resource.RLIMIT_NPROC, nproc),
                   (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NOFILE, 64)):
    resource.setrlimit(res, (value, value))
if uid >= 0 and os.getuid() == 0:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
os.execv(sys.argv[7], [sys.argv[7], "-I", "-B", sys.argv[6]])
"""


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0  # wall clock, then the process group is killed
    cpu_s: int = 5
    memory_mb: int = 1024  # address space
    file_mb: int = 4  # largest file it may write, its output included
    processes: int = 32  # per user (counted over every process of the sandbox user)


@dataclass(frozen=True)
class Execution:
    status: str  # passed | failed | timeout
    returncode: int | None
    output: str  # the first 4 kB of stdout and stderr together
    seconds: float

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@functools.lru_cache(maxsize=1)
def namespaces_work() -> bool:
    """Whether ``unshare`` can make PID and network namespaces here (checked once)."""
    try:
        done = subprocess.run([*NAMESPACES, "true"], capture_output=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def check_sandbox() -> bool:
    """True when the full sandbox is available; False when the user allowed running without
    it; otherwise a ConfigError saying what is missing and how to allow it."""
    missing = []
    if os.geteuid() != 0:
        missing.append("not root, so no unprivileged user to switch to")
    if not namespaces_work():
        missing.append("unshare cannot create PID and network namespaces")
    if not missing:
        return True
    if os.environ.get(UNSAFE_VAR) == "1":
        return False
    raise ConfigError(
        f"cannot sandbox generated code ({'; '.join(missing)}); set {UNSAFE_VAR}=1 to run it "
        "without that protection at your own risk"
    )


def run_python(source: str, limits: Limits = Limits()) -> Execution:
    """Run ``source`` as a Python program in the sandbox; exit status 0 means passed."""
    full = check_sandbox()
    work = Path(tempfile.mkdtemp(prefix="evalharness-sandbox-"))
    own = Path(tempfile.mkdtemp(prefix="evalharness-sandbox-out-"))  # not the sandbox's to touch
    try:
        program = work / "program.py"
        program.write_text(source, encoding="utf-8")
        if full:
            os.chown(work, NOBODY, NOBODY)
            os.chown(program, NOBODY, NOBODY)
        return _launch(program, work, own / "output", limits, full)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(own, ignore_errors=True)


def _launch(program: Path, work: Path, output: Path, limits: Limits, full: bool) -> Execution:
    mb = 1 << 20
    args = [
        str(limits.cpu_s),
        str(limits.memory_mb * mb),
        str(limits.file_mb * mb),
        str(limits.processes),
        str(NOBODY if full else -1),
        str(program),
        sandbox_python() if full else sys.executable,
    ]
    command = [args[-1], "-I", "-c", _LAUNCHER, *args]
    if full:
        command = [*NAMESPACES, *command]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "LANG": "C.UTF-8", "TMPDIR": str(work)}
    started = time.perf_counter()
    with output.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as one
        )
        namespace, pin = _namespace_of_child(process.pid) if full else (None, None)
        try:
            code: int | None = process.wait(timeout=limits.timeout_s)
            status = "passed" if code == 0 else "failed"
        except subprocess.TimeoutExpired:
            code, status = None, "timeout"
        finally:
            _kill_group(process)
            if namespace:
                _wait_until_empty(namespace)
            if pin is not None:
                os.close(pin)
    with output.open("rb") as f:
        text = f.read(4096).decode("utf-8", "replace")
    return Execution(status, code, text, time.perf_counter() - started)


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _namespace_of_child(pid: int, wait_s: float = 2.0) -> tuple[str | None, int | None]:
    """The PID namespace of ``unshare``'s child (the namespace's first process), read while it
    runs, so the end can wait until every process in it is gone, and an open descriptor on it:
    that keeps the namespace's number taken, since the kernel hands a freed number to the next
    namespace made, and another run's processes would be taken for this one's and killed."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            if children:
                pin = os.open(f"/proc/{children[0]}/ns/pid", os.O_RDONLY)
                return os.readlink(f"/proc/self/fd/{pin}"), pin
        except OSError:
            return None, None  # unshare (or its child) already ended
        time.sleep(0.002)
    return None, None


def _wait_until_empty(namespace: str, wait_s: float = 10.0) -> None:
    """The kernel kills a namespace's processes once its first one ends, asynchronously; wait
    for them (and kill any still there), so that nothing of the program outlives the call."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        left = []
        for ns in Path("/proc").glob("[0-9]*/ns/pid"):
            try:
                if os.readlink(ns) == namespace:
                    left.append(int(ns.parent.parent.name))
            except OSError:
                continue
        if not left:
            return
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)
