"""Sandboxed Python for code interpreter containers (no web framework).

One container = one bubblewrap sandbox running a Jupyter kernel (``ipykernel``) as its own
host user, in its own namespaces, under a seccomp filter and memory + pids cgroups, with an
in-memory ``/mnt/data`` of fixed size. ``Sandboxes`` (``manager.py``) owns them all; the
Containers service and the Responses ``code_interpreter`` tool use only what this package
exports. See ``docs/code-interpreter.md`` for the isolation model.
"""

from hearth.sandbox.manager import (
    MEMORY_LIMITS,
    Execution,
    Limits,
    Output,
    Sandboxes,
    SandboxFile,
)

__all__ = ["MEMORY_LIMITS", "Execution", "Limits", "Output", "SandboxFile", "Sandboxes"]
