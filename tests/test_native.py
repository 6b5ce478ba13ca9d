"""The native-task toolkit: ELF rule checks on small objects, the scanners, hash and Landlock
defences of a run, and the one harness header every native task carries."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_autolab import native
from pytest_autolab.lab import Submission
from pytest_autolab.native._program import Measured, executable_memory_requests, tampering
from pytest_autolab.sandboxes import ExecResult
from pytest_autolab.sandboxes.local import LocalBackend
from pytest_autolab.tasks import load_task

from .conftest import MakeTask

REPO = Path(__file__).resolve().parent.parent
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
RULES = native.Rules(
    objects=("k.o",), exports=("kernel",), allowed_calls=native.MEMORY_CALLS | native.MATH_CALLS
)


def compile_object(tmp_path: Path, source: str, flags: tuple[str, ...] = ()) -> native.Elf:
    (tmp_path / "k.c").write_text(source)
    subprocess.run(["gcc", "-O2", "-c", "-o", "k.o", "k.c", *flags], cwd=tmp_path, check=True)
    return native.Elf((tmp_path / "k.o").read_bytes(), "k.o")


def problems_of(tmp_path: Path, source: str, rules: native.Rules = RULES) -> list[str]:
    return native.check_object(compile_object(tmp_path, source), rules)


@needs_gcc
def test_a_kernel_that_keeps_to_the_rules_passes(tmp_path: Path) -> None:
    source = """
    #include <math.h>
    #include <stdlib.h>
    static float helper(float x) { return expf(x); }
    void kernel(float *x, int n) { float *t = malloc(4); for (int i = 0; i < n; i++) x[i] = helper(x[i]); free(t); }
    """
    assert problems_of(tmp_path, source) == []


@needs_gcc
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("void kernel(void) {} void helper(void) {}", "defines the global symbol helper (make it static)"),
        (
            "void kernel(void) {} __attribute__((weak)) int prctl(int o) { return 0; }",
            "defines the weak symbol prctl",
        ),
        (
            'void kernel(void) {} __asm__(".text\\n.globl prctl\\n.type prctl, @gnu_unique_object\\nprctl: ret");',
            "defines the GNU-unique symbol prctl",
        ),
        ("int counter; void kernel(void) { counter++; }", "defines the global symbol counter"),
        (
            "static void r(void) {} static void *res(void) { return r; }"
            ' void f(void) __attribute__((ifunc("res"))); void kernel(void) { f(); }',
            "defines the indirect function f",
        ),
        (
            "volatile int hit; __attribute__((constructor)) static void early(void) { hit = 1; } void kernel(void) {}",
            "has a .init_array section",
        ),
        ('#include <stdio.h>\nvoid kernel(void) { puts("hi"); }', "calls puts()"),
        ("__attribute__((weak)) void kernel(void) {}", "kernel has binding WEAK"),
    ],
)
def test_objects_that_break_a_rule_are_named(tmp_path: Path, source: str, expected: str) -> None:
    problems = problems_of(tmp_path, source)
    assert any(expected in p for p in problems), problems


@needs_gcc
def test_an_indirect_function_is_refused_even_when_local(tmp_path: Path) -> None:
    source = (
        "static void r(void) {} static void *res(void) { return r; }"
        ' static void f(void) __attribute__((ifunc("res"))); void kernel(void) { f(); }'
    )
    assert any("indirect function f" in p for p in problems_of(tmp_path, source))


@needs_gcc
def test_a_client_request_in_the_object_is_found_at_any_alignment(tmp_path: Path) -> None:
    preamble = ", ".join(f"0x{b:02x}" for b in native.CLIENT_REQUEST)
    source = f"const unsigned char blob[] = {{0x90, {preamble}}}; void kernel(void) {{}}"
    problems = problems_of(tmp_path, source)
    assert "contains a Valgrind client request" in problems
    assert native.client_request_offsets(b"\x00" + native.CLIENT_REQUEST * 2) == [1, 17]


def test_raw_system_calls_are_found_in_a_disassembly() -> None:
    text = (
        "0000000000000000 <kernel>:\n"
        "   0:\tmov    $0x39,%eax\n"
        "   5:\tsyscall\n"
        "0000000000000010 <other>:\n"
        "  10:\tint    $0x80\n"
        "  12:\tcall   syscall_helper\n"
    )
    assert native.raw_syscalls(text) == ["kernel: syscall", "other: int $0x80"]


@needs_gcc
def test_cxx_template_instances_are_allowed_unless_the_harness_shares_them(tmp_path: Path) -> None:
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed")
    (tmp_path / "k.cc").write_text(
        "#include <vector>\nint search(const std::vector<int>& v) { std::vector<int> w(v); w.push_back(1); return (int)w.size(); }\n"
    )
    subprocess.run(["g++", "-O2", "-c", "-o", "k.o", "k.cc"], cwd=tmp_path, check=True)
    elf = native.Elf((tmp_path / "k.o").read_bytes(), "k.o")
    names = [s.name for s in elf.symbols()]
    demangled = dict(
        zip(
            names,
            subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True).stdout.split(
                "\n"
            ),
            strict=False,
        )
    )
    rules = native.Rules(
        objects=("k.o",),
        exports=("search(*",),
        allowed_calls=native.MEMORY_CALLS | native.CXX_RUNTIME_CALLS,
        template_instances=True,
    )
    assert native.check_object(elf, rules, demangled=demangled) == []
    weak = {s.name for s in elf.symbols() if s.binding == "WEAK" and s.defined}
    shared = native.check_object(elf, rules, demangled=demangled, harness_names=frozenset(weak))
    assert shared
    assert all("which the harness also defines or uses" in p for p in shared)
    strict = native.check_object(
        elf, native.Rules(objects=("k.o",), exports=("search(*",), allowed_calls=None), demangled=demangled
    )
    assert any("weak symbol" in p for p in strict)


@needs_gcc
def test_a_program_with_an_executable_stack_is_refused(tmp_path: Path) -> None:
    (tmp_path / "p.c").write_text("int main(void) { return 0; }")
    subprocess.run(
        ["gcc", "-o", "p", "p.c", "-z", "execstack"], cwd=tmp_path, check=True, capture_output=True
    )
    problems = native.check_program(native.Elf((tmp_path / "p").read_bytes()), frozenset(), ())
    assert "the program has an executable stack" in problems


def test_a_file_that_is_not_elf_is_a_clear_error() -> None:
    with pytest.raises(native.ElfError, match="not an ELF file"):
        native.Elf(b"#!/bin/sh\n", "attn")


def test_every_task_carries_the_canonical_harness_header() -> None:
    canonical = native.HARNESS_HEADER.read_bytes()
    copies = sorted((REPO / "tasks").glob("*/environment/**/autolab_harness.h"))
    assert copies, "no native task carries autolab_harness.h"
    drifted = [str(p.relative_to(REPO)) for p in copies if p.read_bytes() != canonical]
    assert not drifted, (
        f"copies differ from {native.HARNESS_HEADER.name} in the package: {drifted} (copy it over)"
    )


def fake_measured(
    tool: str, count: int, log: str = "SYSCALL[1,1](157) sys_prctl ( 22, 2, 0, 0, 0 )", digests: str = "d"
) -> Measured:
    text = f"events: Ir\nsummary: {count}\n"
    return Measured(tool, ExecResult(0, "", ""), text, log, digests)


def test_counts_that_disagree_between_callgrind_and_cachegrind_are_tampering() -> None:
    assert (
        tampering(fake_measured("callgrind", 1_000_000), fake_measured("cachegrind", 1_001_300), 1_000_000)
        == []
    )
    toggled = tampering(
        fake_measured("callgrind", 700_000), fake_measured("cachegrind", 900_000_000), 700_000
    )
    assert any("switched off or reset" in p for p in toggled)
    request = tampering(
        fake_measured("callgrind", 10),
        fake_measured("cachegrind", 10, log="unhandled client request: 0x43540002"),
        10,
    )
    assert "sent a Valgrind client request" in request
    split = tampering(fake_measured("callgrind", 10), fake_measured("cachegrind", 10, digests="other"), 10)
    assert "wrote different outputs under Callgrind and under Cachegrind" in split


def test_the_model_cache_is_fixed_on_the_command_line() -> None:
    assert native.MODEL_CACHE.options() == [
        "--I1=32768,8,64",
        "--D1=32768,8,64",
        "--LL=1048576,16,64",
    ]
    assert native.MODEL_CACHE.to_json()["LL"] == {"bytes": 1048576, "ways": 16, "line": 64}


# --- a program in a local sandbox: hash checks and the Landlock domain ------------------------------

TOY_C = r"""
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "write")) { FILE *f = fopen(argv[2], "w"); if (!f) return 3; fputs("x", f); return fclose(f) ? 4 : 0; }
    puts("ok");
    return 0;
}
"""


@pytest.fixture
def toy(make_task: MakeTask) -> Iterator[native.Program]:
    if shutil.which("gcc") is None or shutil.which("make") is None:
        pytest.skip("gcc and make are needed")
    task = load_task(
        make_task(
            environment={
                "value.txt": "1\n",
                "toy.c": TOY_C,
                "Makefile": "toy: toy.c\n\tgcc -O1 -o toy toy.c\n",
            }
        )
    )
    with LocalBackend(run_id="test-native").start(task, role="verify", labels={}) as sandbox:
        program = native.build(Submission(task, sandbox, seed=0, hidden=False), "make toy", binary="toy")
        program.assert_built()
        yield program


def test_a_rewritten_binary_is_not_run(toy: native.Program) -> None:
    assert toy.run("").stdout == "ok\n"
    toy.submission.exec("printf '#!/bin/sh\\necho cheat\\n' > toy")
    with pytest.raises(native.ProgramChanged, match="toy changed after it was built"):
        toy.run("")


def test_a_run_writes_only_its_outputs_and_its_own_directory(toy: native.Program) -> None:
    probe = toy.run("write probe.txt")
    if probe.exit_code == 97:
        pytest.skip("this kernel has no Landlock")
    assert probe.ok, probe.output
    assert toy.submission.read_file("probe.txt") == b"x"
    home = toy.run('write "$HOME/cache.txt"')
    assert home.ok, home.output  # its own directory, removed after the run
    assert toy.run("write /tmp/autolab-test-native-cache").exit_code == 3
    assert toy.run("write probe.txt", outputs=()).exit_code == 3


def test_executable_memory_asked_for_after_the_lockdown_is_found_in_the_trace() -> None:
    trace = (
        "SYSCALL[1,1](9) sys_mmap ( 0x0, 4096, 5, 2, 3, 0 ) --> Success(0x4000)\n"
        "SYSCALL[1,1](157) sys_prctl ( 22, 2, 1374, 777, 0 ) --> [async] ...\n"
        "SYSCALL[1,1](9) sys_mmap ( 0x0, 8192, 3, 34, -1, 0 ) --> Success(0x5000)\n"
    )
    assert executable_memory_requests(trace) == []
    jit = trace + "SYSCALL[1,1](10) sys_mprotect ( 0x4037000, 4096, 7 )[sync] --> Success(0x0)\n"
    assert executable_memory_requests(jit) == [
        "asked for executable memory after the lockdown (sys_mprotect ( 0x4037000, 4096, 7 ...)"
    ]
    assert executable_memory_requests("SYSCALL[1,1](9) sys_mmap ( 0x0, 4096, 7, 34, -1, 0 )\n") == [
        "never locked the process down (no seccomp filter in the trace)"
    ]


def test_an_output_may_be_written_again_by_a_later_run(toy: native.Program) -> None:
    first = toy.run("write again.txt")
    if first.exit_code == 97:
        pytest.skip("this kernel has no Landlock")
    assert first.ok, first.output
    assert toy.run("write again.txt").ok  # it exists now, and is still this run's output
    toy.submission.exec("echo input > given.txt")
    assert toy.run("write given.txt").exit_code == 3  # a file the verifier wrote is an input


def test_counts_say_how_they_were_made() -> None:
    from pytest_autolab.measure import Counts

    counts = Counts(10, 30, {"Ir": 10}, native_result(), cache=native.MODEL_CACHE)
    assert counts.details()["cache"] == native.MODEL_CACHE.to_json()
    assert counts.details()["cycles"] == 30


def native_result() -> ExecResult:
    return ExecResult(0, "", "")


def test_a_run_cannot_write_the_copy_of_the_binary_it_runs_from(toy: native.Program) -> None:
    result = toy.run('write "$AUTOLAB_SCRATCH/../toy"')
    if result.exit_code == 97:
        pytest.skip("this kernel has no Landlock")
    assert result.exit_code == 3
