"""A native program built once in the verification sandbox, and every run of it checked."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shlex
from collections.abc import Mapping, Sequence

import pytest

from ..lab import Submission
from ..measure import (
    MODEL_CACHE,
    CacheModel,
    CallgrindError,
    Counts,
    estimated_cycles,
    parse_callgrind_totals,
)
from ..sandboxes import ExecResult, Sandbox
from ._elf import Elf, ElfError
from ._landlock import LANDLOCK_MISSING_EXIT, LAUNCHER
from ._rules import Rules, check_object, check_program, raw_syscalls

__all__ = ["CountingTampered", "Program", "ProgramChanged", "build", "tampering"]

#: Valgrind options of every measured run: nothing of Valgrind's own runs in the program at exit
#: (no freeres), no gdbserver.
VALGRIND_OPTIONS = ("--run-libc-freeres=no", "--run-cxx-freeres=no", "--vgdb=no")
#: How far Cachegrind's instruction count may lie from Callgrind's for the same run: the two
#: tools differ by a little start-up work (measured: 1,120 to 1,312 instructions).
CROSS_CHECK_SLACK = 5000
#: An argument that names an output file by default (created empty before the run: with the
#: run's directory, the only place the run may write): a relative path with an extension.
OUTPUT_ARG = re.compile(r"^[\w.-][\w./-]*\.[A-Za-z0-9]+$")


class ProgramChanged(AssertionError):
    """The binary about to run is not the one that was built (something rewrote it)."""


class CountingTampered(AssertionError):
    """The measured run switched Valgrind's counting off, or ran code it could not count."""


class Program:
    """The binary (and objects) built from the pristine harness and the editable files.

    ``build`` runs the build command once and keeps the SHA-256 of the binary and of every
    object named in the rules. Every ``run`` and ``count`` copies the binary into a fresh
    private directory, checks the copy's hash against the build's, and runs the copy there with
    ``HOME``, ``TMPDIR`` and ``AUTOLAB_SCRATCH`` pointing at that directory (which is removed
    afterwards): a program that rewrote its binary, or kept a file for its next run, is found
    out or finds nothing. The rule checks run once, on first use.

    State, for a reader::

        program.hashes = {"attn": "9f2c...", "attention.o": "41aa..."}
        program.build_result = ExecResult(exit_code=0, stdout="gcc -O2 ...", ...)
    """

    def __init__(
        self, submission: Submission, command: str, binary: str, rules: Rules | None, build_result: ExecResult
    ) -> None:
        self.submission = submission
        self.command = command
        self.binary = binary
        self.rules = rules
        self.build_result = build_result
        #: File -> SHA-256 of what the build produced (empty when it failed).
        self.hashes: dict[str, str] = {}
        self._files: dict[str, bytes] = {}
        self._problems: list[str] | None = None
        if build_result.ok:
            for path in (
                binary,
                *(rules.objects if rules else ()),
                *(rules.harness_objects if rules else ()),
            ):
                try:
                    data = submission.read_file(path)
                except Exception as exc:  # the sandbox's own error types differ by backend
                    self.build_result = ExecResult(
                        1,
                        build_result.stdout,
                        f"{build_result.stderr}\nthe build did not produce {path}: {exc}",
                    )
                    self.hashes.clear()
                    break
                self._files[path] = data
                self.hashes[path] = hashlib.sha256(data).hexdigest()

    # -- the verdicts -------------------------------------------------------------------------

    @property
    def built(self) -> bool:
        return self.build_result.ok and bool(self.hashes)

    def assert_built(self) -> None:
        """Fail with the build's output unless it built."""
        result = self.build_result
        assert self.built, f"`{self.command}` failed: {result.describe()}\n{result.output[-4000:]}"

    def problems(self) -> list[str]:
        """Every rule the build breaks (computed once)."""
        self._require_built()
        if self._problems is None:
            self._problems = self._check_rules()
        return self._problems

    def assert_rules(self) -> None:
        problems = self.problems()
        assert not problems, "the submission breaks the rules: " + "; ".join(problems)

    # -- running --------------------------------------------------------------------------------

    def run(
        self,
        args: str,
        *,
        timeout: float = 60,
        env: Mapping[str, str] | None = None,
        outputs: Sequence[str] | None = None,
    ) -> ExecResult:
        """Run ``./binary args`` from a fresh, hash-checked copy (cwd: the app dir).

        The run may write only its private directory and ``outputs`` (files of the app dir,
        created empty first; by default every argument that looks like a file name with an
        extension and does not exist yet, e.g. ``out.bin``).
        """
        self._require_built()
        outs = self._outputs(args, outputs)
        scratch = self._prepare(outs)
        command = f"{self._launch(scratch, args, outs)}; rc=$?; rm -rf {shlex.quote(scratch)}; exit $rc"
        result = self.submission.sandbox.exec(command, timeout=timeout, env=self._env(scratch, env))
        _check_landlock(result)
        return result

    def count(
        self,
        args: str,
        *,
        cache_sim: bool = False,
        timeout: float = 600,
        env: Mapping[str, str] | None = None,
        cache: CacheModel = MODEL_CACHE,
        outputs: Sequence[str] | None = None,
    ) -> Counts:
        """Count ``./binary args`` under Callgrind, from a fresh, hash-checked copy.

        ``cache_sim`` adds the simulated cycles on ``cache`` (the fixed model machine). The
        command's own result is ``counts.result``; a non-zero exit fails the test. The same run
        is counted again by Cachegrind, which a program cannot switch off (Valgrind 3.19's
        Cachegrind has no client requests): the two counts must agree, the two runs must write
        the same outputs (``CountingTampered`` otherwise).
        """
        self._require_built()
        outs = self._outputs(args, outputs)
        options = ["--dump-line=no", "--dump-instr=no", "--compress-strings=no"]
        options += ["--cache-sim=yes", *cache.options()] if cache_sim else ["--cache-sim=no"]
        first = self._valgrind("callgrind", args, options, timeout, env, outs)
        result = first.result
        assert result.ok, (
            f"./{self.binary} {args} failed under Callgrind: {result.describe()}\n{result.output[-3000:]}"
        )
        # -v -v -v: Cachegrind's log then names the first client request it was sent.
        second = self._valgrind("cachegrind", args, ["--cache-sim=no", "-v", "-v", "-v"], timeout, env, outs)
        try:
            events = parse_callgrind_totals(first.text)
        except CallgrindError as exc:
            pytest.fail(f"./{self.binary} {args}: Callgrind wrote no counts ({exc})", pytrace=False)
        problems = tampering(first, second, events["Ir"])
        if problems:
            raise CountingTampered(f"the measured run of ./{self.binary} {args} " + "; ".join(problems))
        return Counts(
            instructions=events["Ir"],
            cycles=estimated_cycles(events) if cache_sim else None,
            events=events,
            result=result,
            cache=cache if cache_sim else None,
        )

    # -- internals --------------------------------------------------------------------------------

    @property
    def _name(self) -> str:
        return self.binary.rsplit("/", 1)[-1]

    def _require_built(self) -> None:
        if not self.built:
            pytest.fail(
                f"the program does not build (see test_builds): `{self.command}` failed", pytrace=False
            )

    def _env(self, scratch: str, extra: Mapping[str, str] | None) -> dict[str, str]:
        # LD_BIND_NOW: every symbol is bound before main, so no lazy binding runs once the
        # harness has locked the process down. TMPDIR: Valgrind writes a file there at start.
        return {
            "HOME": scratch,
            "TMPDIR": scratch,
            "AUTOLAB_SCRATCH": scratch,
            "LD_BIND_NOW": "1",
            **(extra or {}),
        }

    def _outputs(self, args: str, outputs: Sequence[str] | None) -> list[str]:
        if outputs is not None:
            return list(outputs)
        try:
            words = [w for w in shlex.split(args) if OUTPUT_ARG.match(w)]
        except ValueError:
            return []
        if not words:
            return []
        quoted = " ".join(shlex.quote(w) for w in words)
        out = self.submission.sandbox.exec(
            f'for f in {quoted}; do [ -e "$f" ] || echo "$f"; done', timeout=60
        )
        return out.stdout.splitlines()

    def _launch(self, scratch: str, args: str, outputs: Sequence[str], prefix: str = "") -> str:
        """The command that runs the fresh copy inside the Landlock domain."""
        program = shlex.quote(f"{scratch}/{self._name}")
        return (
            f"python3 -c {shlex.quote(LAUNCHER)} {shlex.quote(scratch)} {shlex.quote(','.join(outputs))} -- "
            f"{prefix}{program} {args}"
        )

    def _prepare(self, outputs: Sequence[str]) -> str:
        """A fresh private directory with a hash-checked copy of the binary; outputs made empty."""
        scratch = self._fresh_copy()
        if outputs:
            made = self.submission.sandbox.exec(
                " && ".join(f": > {shlex.quote(o)}" for o in outputs), timeout=60
            )
            assert made.ok, f"could not create the output files {list(outputs)}: {made.output[-500:]}"
        return scratch

    def _valgrind(
        self,
        tool: str,
        args: str,
        options: Sequence[str],
        timeout: float,
        env: Mapping[str, str] | None,
        outputs: Sequence[str],
    ) -> Measured:
        scratch = self._prepare(outputs)
        out_file, log_file = f"{scratch}/{tool}.out", f"{scratch}.log"
        valgrind = " ".join(
            [
                "valgrind",
                f"--tool={tool}",
                f"--{tool}-out-file={shlex.quote(out_file)}",
                # The log goes through a descriptor opened here, outside the run's directory:
                # Valgrind moves it out of the program's reach, so no line of it can be erased.
                "--log-fd=3",
                *VALGRIND_OPTIONS,
                *options,
            ]
        )
        command = f"{self._launch(scratch, args, outputs, prefix=valgrind + ' ')} 3>{shlex.quote(log_file)}"
        sandbox = self.submission.sandbox
        try:
            result = sandbox.exec(command, timeout=timeout, env=self._env(scratch, env))
            _check_landlock(result)
            text = _cat(sandbox, f"cat -- {shlex.quote(out_file)}")
            log = _cat(sandbox, f"cat -- {shlex.quote(log_file)}")
            digests = ""
            if outputs:
                digests = _cat(sandbox, "sha256sum -b -- " + " ".join(shlex.quote(o) for o in outputs))
        finally:
            sandbox.exec(f"rm -rf {shlex.quote(scratch)} {shlex.quote(log_file)}", timeout=60)
        if result.timed_out:
            pytest.fail(f"./{self.binary} {args} timed out after {timeout:g}s under {tool}", pytrace=False)
        return Measured(tool, result, text, log, digests)

    def _fresh_copy(self) -> str:
        """A new private directory holding a copy of the binary whose hash is the build's."""
        command = (
            'd=$(mktemp -d "${TMPDIR:-/tmp}/autolab-run.XXXXXXXX") && chmod 700 "$d" && '
            f'cp -- {shlex.quote(self.binary)} "$d"/{shlex.quote(self._name)} && '
            f'echo "$d" && sha256sum -b -- "$d"/{shlex.quote(self._name)}'
        )
        for path in self.hashes:
            if path != self.binary:
                command += f" && sha256sum -b -- {shlex.quote(path)}"
        out = self.submission.sandbox.exec(command, timeout=60)
        assert out.ok, f"could not prepare a run of ./{self.binary}: {out.describe()}\n{out.output[-2000:]}"
        lines = out.stdout.splitlines()
        scratch, sums = lines[0], lines[1:]
        paths = [self.binary, *(p for p in self.hashes if p != self.binary)]
        for path, line in zip(paths, sums, strict=True):
            got = line.split()[0]
            if got != self.hashes[path]:
                self.submission.sandbox.exec(f"rm -rf {shlex.quote(scratch)}", timeout=60)
                raise ProgramChanged(
                    f"{path} changed after it was built (SHA-256 {got[:12]}..., built {self.hashes[path][:12]}...): "
                    "something the program ran rewrote it; only the program built from the sources is run"
                )
        return scratch

    def _check_rules(self) -> list[str]:
        rules = self.rules
        if rules is None:
            return []
        problems: list[str] = []
        harness_names: set[str] = set()
        for path in rules.harness_objects:
            harness_names.update(
                s.name for s in Elf(self._files[path], path).symbols() if s.binding != "LOCAL"
            )
        submission_names: set[str] = set()
        for path in rules.objects:
            try:
                elf = Elf(self._files[path], path)
            except ElfError as exc:
                problems.append(str(exc))
                continue
            names = [s.name for s in elf.symbols() if s.name and s.binding != "LOCAL"]
            submission_names.update(s.name for s in elf.symbols() if s.exported)
            demangled = self._demangle(names) if any(n.startswith("_Z") for n in names) else {}
            found = check_object(elf, rules, demangled=demangled, harness_names=frozenset(harness_names))
            found += [f"executes a raw system call ({where})" for where in self._syscalls(path)]
            problems += [f"{path} {p}" for p in found]
        try:
            program = Elf(self._files[self.binary], self.binary)
        except ElfError as exc:
            return [*problems, str(exc)]
        problems += check_program(program, frozenset(submission_names), rules.exports)
        return problems

    def _syscalls(self, path: str) -> list[str]:
        out = self.submission.sandbox.exec(
            f"objdump -d --no-show-raw-insn -w -- {shlex.quote(path)}",
            timeout=120,
            output_limit=64 * 1024 * 1024,
        )
        if not out.ok:
            return [f"objdump could not disassemble it: {out.output[-500:]}"]
        return raw_syscalls(out.stdout)

    def _demangle(self, names: list[str]) -> dict[str, str]:
        out = self.submission.sandbox.exec("c++filt", timeout=60, stdin="\n".join(names).encode() + b"\n")
        if not out.ok:
            return {}
        return dict(zip(names, out.stdout.splitlines(), strict=False))


def build(
    submission: Submission,
    command: str,
    *,
    binary: str,
    rules: Rules | None = None,
    timeout: float = 300,
) -> Program:
    """Build the program once (``command`` in the app dir, e.g. ``make attn``) and return it.

    Never raises for a failed build: ``Program.assert_built`` reports it, so that a module-scoped
    fixture can build and every test can fail with the build's output.
    """
    result = submission.exec(f"{command} 2>&1", timeout=timeout)
    return Program(submission, command, binary, rules, result)


@dataclasses.dataclass(frozen=True)
class Measured:
    """One run under a Valgrind tool: its result, its output file and log, its outputs' hashes."""

    tool: str
    result: ExecResult
    text: str
    log: str
    digests: str


def tampering(callgrind: Measured, cachegrind: Measured, instructions: int) -> list[str]:
    """What shows that a measured run was not counted whole (empty when nothing does).

    - Callgrind's count must agree with Cachegrind's: Callgrind's client requests (toggle,
      zero, dump, stop instrumentation) move only Callgrind's; Cachegrind (3.19) has none, and
      its log (at -v -v -v) names the first request a program sends it.
    - Both runs must write the same outputs: a program that behaves differently under the two
      tools is found out.
    Not detected here: a core client request (``VALGRIND_NON_SIMD_CALL``: code run natively,
    uncounted by either tool) sent from code written at run time; the object checks refuse the
    request in the program's own code (docs/tasks.md, "Native tasks").
    """
    problems = []
    if not cachegrind.result.ok:
        problems.append(
            f"failed under Cachegrind ({cachegrind.result.describe()}): {cachegrind.result.output[-500:]}"
        )
        return problems
    try:
        other = parse_callgrind_totals(cachegrind.text).get("Ir", -1)
    except CallgrindError:
        other = -1
    if abs(other - instructions) > CROSS_CHECK_SLACK:
        problems.append(
            f"counted {instructions} instructions under Callgrind but {other} under Cachegrind: "
            "the counting was switched off or reset (a Valgrind client request)"
        )
    if "unhandled client request" in cachegrind.log:
        problems.append("sent a Valgrind client request")
    if callgrind.digests != cachegrind.digests:
        problems.append("wrote different outputs under Callgrind and under Cachegrind")
    return problems


def _check_landlock(result: ExecResult) -> None:
    if result.exit_code == LANDLOCK_MISSING_EXIT and "has no Landlock" in result.stderr:
        raise RuntimeError(result.stderr.strip())


def _cat(sandbox: Sandbox, command: str) -> str:
    out = sandbox.exec(command, timeout=60, output_limit=64 * 1024 * 1024)
    return out.stdout if out.ok else ""
