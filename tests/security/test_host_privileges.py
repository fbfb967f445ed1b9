"""Never host root: what the agent's shell (and the grader) can do to the host, tried for real."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from mlgym_core.builtin_plugins.local_runtime import LocalRuntime
from mlgym_core.privileges import sandbox_uids
from mlgym_core.sandbox import GradeConfig

from .conftest import as_root, needs_bwrap, out

pytestmark = needs_bwrap


def expected_agent_uid() -> int:
    uids = sandbox_uids()
    return uids.agent if uids else os.getuid()


def host_uids_of(pid: int) -> list[int]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return [int(x) for x in line.split()[1:]]
    raise AssertionError(f"no Uid line for {pid}")


def test_sandbox_processes_and_files_are_not_host_root(start_sandbox):
    box = start_sandbox()
    pid = int(out(box, "sleep 60 & echo $!").strip().splitlines()[-1])
    out(box, "touch made-inside; mkdir d")
    # the background process, seen from the host: find it by its command line below the shell
    from mlgym_core.processes import descendants

    sleeps = [p for p in descendants(box.shell.pid) if Path(f"/proc/{p}/cmdline").read_bytes().startswith(b"sleep")]
    assert sleeps, f"no sleep below the sandbox (inside pid {pid})"
    for p in sleeps:
        assert host_uids_of(p) == [expected_agent_uid()] * 4
    for name in ("made-inside", "d", "."):
        assert (box.workspace_host / name).stat().st_uid == expected_agent_uid()
    if os.geteuid() == 0:
        assert expected_agent_uid() != 0


def test_no_capabilities_inside(start_sandbox):
    box = start_sandbox()
    caps = dict(line.split(":\t") for line in out(box, "grep ^Cap /proc/self/status").splitlines())
    assert int(caps["CapEff"], 16) == 0 and int(caps["CapPrm"], 16) == 0 and int(caps["CapAmb"], 16) == 0
    if os.geteuid() == 0:
        assert int(caps["CapBnd"], 16) == 0 and int(caps["CapInh"], 16) == 0


def test_proc_sys_cannot_be_written(start_sandbox):
    box = start_sandbox()
    knob = Path("/proc/sys/kernel/printk_ratelimit")
    before = knob.read_text()
    # writes the value it already has (the old root mode took it: rc=0), and sysrq's harmless help
    res = box.run(f"echo {before.strip()} > {knob}; echo rc=$?; echo h > /proc/sysrq-trigger; echo rc=$?", 10)
    assert res.output.count("rc=1") == 2, res.output
    assert knob.read_text() == before


def test_workspace_is_mounted_nosuid_nodev(start_sandbox):
    box = start_sandbox()
    line = [ln for ln in out(box, "cat /proc/self/mountinfo").splitlines() if " /home/agent/workspace " in ln]
    assert line, "workspace not mounted"
    options = line[0].split()[5].split(",")
    assert "nosuid" in options and "nodev" in options


def test_a_setuid_binary_made_inside_is_not_setuid_root_on_the_host(start_sandbox):
    box = start_sandbox()
    res = box.run("cp /usr/bin/id ./myid && chmod u+s ./myid && ls -l myid", 10)
    host = box.workspace_host / "myid"
    st = host.stat()
    assert st.st_uid != 0, res.output
    if not st.st_mode & stat.S_ISUID:
        return  # the kernel refused the bit: nothing to escalate with
    if os.geteuid() == 0:  # run it from the host as nobody, as a local attacker would
        argv = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", str(host), "-u"]
    else:
        argv = [str(host), "-u"]
    euid = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    assert euid and euid != "0", euid
    assert int(euid) == expected_agent_uid()


@as_root
def test_bwraps_pid1_and_its_descriptors_are_out_of_reach(start_sandbox):
    """Process 1 holds the host's pipes; the sandbox's uid cannot open them through /proc."""
    box = start_sandbox()
    res = box.run("ls /proc/1/fd; cat /proc/1/environ", 10)
    assert res.output.count("Permission denied") == 2, res.output


@as_root
def test_agent_grader_and_code_uids_differ_and_are_not_root():
    uids = sandbox_uids()
    assert uids is not None and len(set(uids)) == 3 and 0 not in uids


@as_root
def test_the_grader_runs_as_its_own_unprivileged_uid(tmp_path):
    folder = tmp_path / "grade" / "workspace"
    folder.mkdir(parents=True)
    res = LocalRuntime(isolation="bwrap").grade(GradeConfig(
        folder=folder, command="id -u; grep ^CapEff /proc/self/status; touch ok && echo wrote; "
                               "k=/proc/sys/kernel/printk_ratelimit; v=$(cat $k); echo $v > $k 2>/dev/null "
                               "|| echo sysctl-refused", timeout=20))
    lines = res.output.split()
    assert res.returncode == 0, (res.output, res.stderr)
    assert int(lines[0]) == sandbox_uids().grader
    assert int(lines[2], 16) == 0 and "wrote" in lines and "sysctl-refused" in lines


def test_no_uid_base_that_is_not_a_number(monkeypatch):
    from mlgym_core.errors import SandboxError

    if os.geteuid() != 0:
        assert sandbox_uids() is None
        return
    monkeypatch.setenv("MLGYM_SANDBOX_UID_BASE", "lots")
    with pytest.raises(SandboxError, match="MLGYM_SANDBOX_UID_BASE='lots': expected an integer uid"):
        sandbox_uids()


KEYRING = ("python3 -c \"import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
           "libc.syscall.restype = ctypes.c_long\n"
           "nr = {'x86_64': (248, 250), 'aarch64': (217, 219)}[__import__('platform').machine()]\n"
           "r = libc.syscall(nr[0], b'user', b'mlgym-leak', b'secret', 6, -4)\n"  # add_key to @u
           "print('add_key', r, ctypes.get_errno())\n"
           "r = libc.syscall(nr[1], 10, -4, b'user', b'mlgym-leak', 0)\n"  # keyctl(KEYCTL_SEARCH, @u)
           "print('search', r, ctypes.get_errno())\"")


def test_the_uids_kernel_keyring_is_no_channel_between_sandboxes(start_sandbox):
    """Keyrings belong to a uid, not a namespace: every sandbox of the uid would share them."""
    first, second = start_sandbox(), start_sandbox()
    wrote, read = out(first, KEYRING).split(), out(second, KEYRING).split()
    assert wrote[1] == "-1" and wrote[2] == "1", wrote  # EPERM from the seccomp filter
    assert read[4] == "-1", read


def test_get_and_put_never_follow_the_agents_links_out_of_the_workspace(start_sandbox, tmp_path):
    from mlgym_core.errors import SandboxError

    box = start_sandbox()
    outside = tmp_path / "host"
    outside.mkdir()
    (outside / "secret").write_text("host secret")
    out(box, f"ln -s {outside}/secret leak; ln -s {outside} hostdir; mkdir d; ln -s {outside} d/sub")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "planted").write_text("x")
    with pytest.raises(SandboxError, match="leads outside the workspace"):
        box.get("leak", tmp_path / "got")
    with pytest.raises(SandboxError, match="leads outside the workspace"):
        box.put(src / "sub" / "planted", "hostdir/planted")
    with pytest.raises(SandboxError, match="leads outside the workspace"):
        box.put(src, "d")
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    box.put(src, "fine")  # an ordinary copy still works, owned by the sandbox's uid
    assert (box.workspace_host / "fine" / "sub" / "planted").stat().st_uid == expected_agent_uid()
    box.get("fine", tmp_path / "back")
    assert (tmp_path / "back" / "sub" / "planted").read_text() == "x"
