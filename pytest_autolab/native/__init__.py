"""The shared toolkit of native (C, C++, Rust) tasks: build once, check the rules, run and count.

A verifier module builds the program once and talks to it only through ``Program``::

    from pytest_autolab import native

    RULES = native.Rules(
        objects=("attention.o",),          # built from the editable sources: inspected
        exports=("attention",),            # the only global symbols they may define
        allowed_calls=native.MEMORY_CALLS | native.MATH_CALLS,
    )

    @pytest.fixture(scope="module")
    def program(submission):
        return native.build(submission, "make attn", binary="attn", rules=RULES)

    def test_builds(program): program.assert_built()
    def test_follows_the_rules(program): program.assert_rules()
    def test_small(program): program.run("run in.bin out.bin", timeout=60)     # -> ExecResult
    def test_metric(program, record_metric):
        record_metric(program.count("run bench.bin bench.out").instructions)
        # or program.count(..., cache_sim=True).cycles: cycles on the fixed MODEL_CACHE

What it defends (docs/tasks.md, "Native tasks", says why each one holds):

- the measured program is the one built: the binary and objects are hashed after the build;
  each run starts from a fresh copy whose hash is checked, in a fresh private directory;
- the objects built from editable sources define only ``exports`` (GLOBAL bindings; no WEAK,
  GNU_UNIQUE, IFUNC, COMMON), call only ``allowed_calls``, have no constructor or startup
  sections, no writable code, no raw system-call instruction and no Valgrind client request;
  the linked program has no writable code, no executable stack, no client request, and
  exports nothing of the submission to the dynamic linker;
- the harness ``main`` includes ``autolab_harness.h`` (``HARNESS_HEADER``, one canonical copy
  that tasks carry in environment/) and calls ``autolab_lockdown()`` after opening its files: a
  seccomp filter refuses new processes, threads, exec and executable memory, Landlock refuses
  every file but the run's private directory, and code holding a client request is unmapped.

C++: name exports by pattern or demangled name (``exports=("search(*",)``), add
``CXX_RUNTIME_CALLS`` to the allowed calls, and set ``template_instances=True`` with
``harness_objects=("main.o",)`` so that inline and template instances (WEAK, in COMDAT groups)
are accepted unless the harness shares them. Rust: the read-only crate root declares the
editable module with ``#[forbid(unsafe_code)] mod solution;`` (no ``unsafe``, ``no_mangle``,
``export_name``, ``link_section`` or ``asm!`` can be allowed back inside it), the crate is a
``staticlib`` linked with the C harness ``main`` (so the same lockdown applies), and
``Rules(objects=(), allowed_calls=None)`` keeps the program-level checks.
"""

from __future__ import annotations

from pathlib import Path

from ..measure import MODEL_CACHE, CacheModel, Counts
from ._elf import Elf, ElfError
from ._program import Program, ProgramChanged, build
from ._rules import (
    CLIENT_REQUEST,
    CXX_RUNTIME_CALLS,
    MATH_CALLS,
    MEMORY_CALLS,
    Rules,
    check_object,
    check_program,
    client_request_offsets,
    raw_syscalls,
)

#: The canonical harness header; every native task carries an identical copy in environment/.
HARNESS_HEADER = Path(__file__).with_name("autolab_harness.h")

__all__ = [
    "CLIENT_REQUEST",
    "CXX_RUNTIME_CALLS",
    "HARNESS_HEADER",
    "MATH_CALLS",
    "MEMORY_CALLS",
    "MODEL_CACHE",
    "CacheModel",
    "Counts",
    "Elf",
    "ElfError",
    "Program",
    "ProgramChanged",
    "Rules",
    "build",
    "check_object",
    "check_program",
    "client_request_offsets",
    "raw_syscalls",
]
