"""The seccomp filter every container runs under (libseccomp through ``pyseccomp``).

Allow by default, deny what a Python user never needs and a sandbox escape usually does:
tracing other processes, mounting, new namespaces, kernel keyrings, BPF, loading modules,
perf events, io_uring, userfaultfd, handle-based opens. Denied calls fail with ``EPERM``
(``clone3`` with ``ENOSYS`` so the C library falls back to ``clone``, whose flags are
checked); calls of a foreign ABI (32-bit, x32) kill the process (libseccomp's default for
a bad architecture). The list follows Docker's and Flatpak's default profiles.
"""

from __future__ import annotations

import errno
import os
import tempfile

DENIED = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "unshare",
    "setns",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "open_by_handle_at",
    "name_to_handle_at",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "syslog",
    "acct",
    "quotactl",
    "lookup_dcookie",
    "fanotify_init",
    "iopl",
    "ioperm",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "personality",
    "vhangup",
    "nfsservctl",
    "uselib",
    "pidfd_getfd",
)
"""System calls that fail with EPERM inside a container."""

# every CLONE_NEW* flag (one rule each: rules on one call are alternatives): a container
# makes no namespaces of its own
_CLONE_NAMESPACES = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
    0x00000080,  # CLONE_NEWTIME
)


def bpf_program() -> bytes:
    """The compiled filter (classic BPF for the host's architecture), for bubblewrap's
    ``--seccomp FD``. Raises ``OSError`` or ``ImportError`` when libseccomp is missing."""
    import pyseccomp as sc

    flt = sc.SyscallFilter(sc.ALLOW)
    eperm = sc.ERRNO(errno.EPERM)
    for name in DENIED:
        flt.add_rule(eperm, name)
    flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    for flag in _CLONE_NAMESPACES:
        flt.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    return _export(flt)


def _export(flt: object) -> bytes:
    with tempfile.TemporaryFile() as f:
        flt.export_bpf(f)  # type: ignore[attr-defined]
        f.flush()
        f.seek(0)
        return f.read()


def program_fd(program: bytes) -> int:
    """A readable file descriptor holding ``program`` (bubblewrap reads it to the end);
    the caller closes it."""
    read, write = os.pipe()
    # a BPF program is a few KB: smaller than a pipe's buffer, so this never blocks
    os.write(write, program)
    os.close(write)
    return read
