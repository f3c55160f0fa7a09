"""The escape suite: what code in a container must fail to do. Each test runs hostile
code in a real container and checks the attempt failed and the host is unharmed."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from hearth.sandbox import Sandboxes
from tests.sandbox.conftest import DISK_MB, PROCESSES, logs

pytestmark = pytest.mark.anyio


async def run_ok(sandboxes: Sandboxes, cid: str, code: str) -> str:
    result = await sandboxes.run(cid, code)
    assert result.status == "completed", result
    return logs(result)


async def test_no_network_not_even_the_hosts_loopback(sandboxes: Sandboxes, container: str) -> None:
    with socket.socket() as server:  # a service listening on the host's loopback
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = (
            "import socket\n"
            "def attempt(host, port):\n"
            "    try:\n"
            "        socket.create_connection((host, port), timeout=2).close()\n"
            "        return 'connected'\n"
            "    except OSError as e:\n"
            "        return type(e).__name__\n"
            f"print(attempt('127.0.0.1', {port}))\n"
            "print(attempt('1.1.1.1', 53))\n"
            "print(attempt('10.0.0.1', 80))\n"
            "print(sorted(name for _, name in socket.if_nameindex()))\n"
        )
        lines = (await run_ok(sandboxes, container, code)).splitlines()
    assert lines[0] == "ConnectionRefusedError"  # its own empty loopback, not the host's
    assert lines[1] != "connected" and lines[2] != "connected"
    assert lines[3] == "['lo']"


async def test_cannot_read_hearths_data_or_another_container(
    sandboxes: Sandboxes, container: str
) -> None:
    data_dir = sandboxes.settings.data_dir
    (data_dir / "hearth.db").write_text("DATABASE-SECRET")
    other = f"cntr_{os.urandom(8).hex()}"
    await sandboxes.create(other, sandboxes.limits("1g"))
    try:
        await sandboxes.write_file(other, "other-secret.txt", b"OTHER-CONTAINER-SECRET")
        await sandboxes.run(other, "open('/tmp/other-tmp.txt', 'w').write('OTHER-TMP')")
        code = (
            "import os, sys\n"
            f"print(os.path.exists({str(data_dir)!r}), os.path.exists('/run/hearth-sandbox'))\n"
            "skip = ('/proc', '/sys', '/usr', '/dev', sys.prefix, sys.base_prefix)\n"
            "found = []\n"
            "for top in ('/', ):\n"
            "    for root, dirs, files in os.walk(top):\n"
            "        if root.startswith(skip):\n"
            "            dirs[:] = []\n"
            "            continue\n"
            "        for name in files:\n"
            "            path = os.path.join(root, name)\n"
            "            try:\n"
            "                text = open(path, 'rb').read(1 << 20)\n"
            "            except OSError:\n"
            "                continue\n"
            "            if b'SECRET' in text or b'OTHER-TMP' in text:\n"
            "                found.append(path)\n"
            "print(found)\n"
        )
        lines = (await run_ok(sandboxes, container, code)).splitlines()
    finally:
        await sandboxes.destroy(other)
    assert lines[0] == "False False"
    assert lines[1] == "[]"


async def test_cannot_write_outside_mnt_data(sandboxes: Sandboxes, container: str) -> None:
    code = (
        "import os, sys\n"
        "targets = ['/usr/evil', '/etc/evil', '/evil', '/run/evil', '/mnt/evil',\n"
        "           sys.prefix + '/evil', '/proc/sys/kernel/hostname', '/dev/evil']\n"
        "for t in targets:\n"
        "    try:\n"
        "        open(t, 'w').write('x')\n"
        "        print('WROTE', t)\n"
        "    except OSError as e:\n"
        "        print('denied', type(e).__name__)\n"
        "open('/mnt/data/fine.txt', 'w').write('ok')\n"
        "print('data ok')\n"
    )
    out = await run_ok(sandboxes, container, code)
    assert "WROTE" not in out
    assert out.count("denied") == 8 and "data ok" in out


async def test_cannot_see_host_processes_or_ptrace(sandboxes: Sandboxes, container: str) -> None:
    code = (
        "import os, ctypes, errno\n"
        "pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
        "print(len(pids), max(pids))\n"
        f"try:\n    os.kill({os.getpid()}, 0)\n    print('signalled host')\n"
        "except ProcessLookupError:\n    print('no such process')\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "print(libc.ptrace(0, 0, None, None), errno.errorcode[ctypes.get_errno()])\n"
        "print(libc.ptrace(16, 1, None, None), errno.errorcode[ctypes.get_errno()])\n"
    )
    lines = (await run_ok(sandboxes, container, code)).splitlines()
    count, highest = map(int, lines[0].split())
    assert count <= 6 and highest < 100  # bwrap, the kernel and its threads' helpers only
    assert lines[1] == "no such process"
    assert lines[2] == "-1 EPERM" and lines[3] == "-1 EPERM"  # PTRACE_TRACEME, ATTACH


async def test_no_root_no_capabilities_no_new_namespaces(
    sandboxes: Sandboxes, container: str
) -> None:
    code = (
        "import os, ctypes, errno, subprocess\n"
        "status = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines())\n"
        "print(os.getuid(), os.geteuid(), status['CapEff'].strip(), status['CapBnd'].strip(),\n"
        "      status['NoNewPrivs'].strip(), status['Seccomp'].strip())\n"
        "try:\n    os.setuid(0)\n    print('became root')\nexcept PermissionError:\n"
        "    print('setuid denied')\n"
        "r = subprocess.run(['su', '-c', 'id'], capture_output=True, input=b'', timeout=10)\n"
        "print('su', r.returncode != 0)\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "for name, call in [('unshare', lambda: libc.unshare(0x10000000)),\n"
        "                   ('mount', lambda: libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)),\n"
        "                   ('keyctl', lambda: libc.syscall(250, 0, 0, 0, 0, 0)),\n"
        "                   ('bpf', lambda: libc.syscall(321, 0, 0, 0))]:\n"
        "    print(name, call(), errno.errorcode[ctypes.get_errno()])\n"
    )
    lines = (await run_ok(sandboxes, container, code)).splitlines()
    uid, euid, cap_eff, cap_bnd, nnp, mode = lines[0].split()
    assert uid == euid and int(uid) >= sandboxes.settings.uid_base
    assert int(cap_eff, 16) == 0 and int(cap_bnd, 16) == 0
    assert nnp == "1" and mode == "2"  # seccomp filter mode
    assert lines[1] == "setuid denied"
    assert lines[2] == "su True"
    for line in lines[3:]:
        assert line.split()[1:] == ["-1", "EPERM"], line


async def test_fork_bomb_stops_at_the_process_limit(sandboxes: Sandboxes, container: str) -> None:
    code = (
        "import os, time\n"
        "children, failure = [], None\n"
        "for _ in range(1000):\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError as e:\n"
        "        failure = e.errno; break\n"
        "    if pid == 0:\n"
        "        time.sleep(60); os._exit(0)\n"
        "    children.append(pid)\n"
        "print(len(children), failure)\n"
        "for pid in children:\n"
        "    os.kill(pid, 9); os.waitpid(pid, 0)\n"
    )
    count, failure = (await run_ok(sandboxes, container, code)).split()
    assert int(count) < PROCESSES and failure == "11"  # EAGAIN
    assert (await run_ok(sandboxes, container, "print('alive')")) == "alive\n"
    assert os.fork  # the host forks on: this test process still runs


async def test_memory_exhaustion_kills_the_kernel_not_hearth(
    sandboxes: Sandboxes, container: str
) -> None:
    await sandboxes.write_file(container, "kept.txt", b"kept across the kill")
    result = await sandboxes.run(
        container, "hog = []\nwhile True:\n    hog.append(bytearray(64 << 20))"
    )
    assert result.status == "killed"
    assert result.error is not None and "out of memory" in result.error
    again = await sandboxes.run(container, "print(open('kept.txt').read())")
    assert again.status == "completed" and logs(again) == "kept across the kill\n"


async def test_disk_quota_holds(sandboxes: Sandboxes, container: str) -> None:
    code = (
        "import errno\n"
        "written = 0\n"
        "try:\n"
        "    with open('/mnt/data/fill.bin', 'wb') as f:\n"
        "        while True:\n"
        "            f.write(b'x' * (1 << 20)); f.flush(); written += 1 << 20\n"
        "except OSError as e:\n"
        "    print(written, errno.errorcode[e.errno])\n"
    )
    written, code_name = (await run_ok(sandboxes, container, code)).split()
    assert int(written) <= DISK_MB * 1_000_000 and code_name in ("ENOSPC", "EFBIG")
    disk = [c for c in sandboxes.describe() if c["id"] == container][0]
    assert disk["disk_bytes"] <= disk["disk_limit_bytes"]


def host_processes_of(uid: int) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        uids = next(line for line in status.splitlines() if line.startswith("Uid:"))
        if int(uids.split()[1]) == uid:
            found.append(int(pid))
    return found


async def test_nothing_survives_container_deletion(sandboxes: Sandboxes) -> None:
    cid = f"cntr_{os.urandom(8).hex()}"
    await sandboxes.create(cid, sandboxes.limits("1g"))
    code = (
        "import os, subprocess, time\n"
        "subprocess.Popen(['sleep', '600'], start_new_session=True)\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(600)\n"
        "    os._exit(0)\n"
        "time.sleep(0.2)\n"
    )
    await run_ok(sandboxes, cid, code)
    uid = [c for c in sandboxes.describe() if c["id"] == cid][0]["uid"]
    assert isinstance(uid, int)
    assert len(host_processes_of(uid)) >= 3  # kernel, sleep, daemon
    mount = sandboxes.root / cid
    await sandboxes.destroy(cid)
    assert host_processes_of(uid) == []
    assert not mount.exists()


async def test_a_restart_reaps_what_a_crash_left(sandbox_dir: Path) -> None:
    from hearth.config import Settings

    settings = Settings(data_dir=sandbox_dir / "crashed").sandbox
    first = Sandboxes(settings)
    cid = f"cntr_{os.urandom(8).hex()}"
    await first.create(cid, first.limits("1g"))
    await run_ok(first, cid, "import subprocess; subprocess.Popen(['sleep', '600'])")
    uid = first.describe()[0]["uid"]
    assert isinstance(uid, int) and host_processes_of(uid)
    # a new server on the same data dir, as after kill -9 (the first never closes)
    Sandboxes(settings)
    assert host_processes_of(uid) == []
    assert not (first.root / cid).exists()


async def test_two_servers_on_one_host_never_share_a_uid(
    sandboxes: Sandboxes, tmp_path: Path
) -> None:
    from hearth.config import Settings

    other = Sandboxes(Settings(data_dir=tmp_path / "other").sandbox)
    ours, theirs = f"cntr_{os.urandom(8).hex()}", f"cntr_{os.urandom(8).hex()}"
    await sandboxes.create(ours, sandboxes.limits("1g"))
    await other.create(theirs, other.limits("1g"))
    try:
        uids = {c["id"]: c["uid"] for c in [*sandboxes.describe(), *other.describe()]}
        assert uids[ours] != uids[theirs]
    finally:
        await other.close()
        await sandboxes.destroy(ours)
