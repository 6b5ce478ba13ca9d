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
from ._rules import CLIENT_REQUEST, Rules, check_object, check_program, raw_syscalls

__all__ = ["CountingTampered", "Program", "ProgramChanged", "build", "tampering"]

#: Valgrind options of every measured run: nothing of Valgrind's own runs in the program at exit
#: (no freeres), no gdbserver.
VALGRIND_OPTIONS = ("--run-libc-freeres=no", "--run-cxx-freeres=no", "--vgdb=no")
#: How far Cachegrind's instruction count may lie from Callgrind's for the same run. With VEX's
#: superblock chasing (the default), Cachegrind, like Lackey, counts more than Callgrind where a
#: superblock runs on through a conditional branch: about 2 more per free() of a block outside
#: glibc's tcache, 3,000 more for the levenshtein reference, 21,000 more for its baseline, which
#: an absolute slack cannot cover. Without chasing (CACHEGRIND_OPTIONS) the two agree within a
#: few dozen instructions for C programs; programs that link libstdc++ or a Rust staticlib
#: differ by about 5,300 start-up instructions in the sandboxes. So the larger of
#: CROSS_CHECK_SLACK and CROSS_CHECK_RELATIVE of the count: hiding 20,000 instructions, or
#: 0.005% of the work, gains nothing against the reward gate (1%).
CROSS_CHECK_SLACK = 20_000
CROSS_CHECK_RELATIVE = 5e-5
#: Cachegrind's options for the cross-check: no superblock chasing (above), and -v -v -v so that
#: its log names the first client request it was sent.
CACHEGRIND_OPTIONS = ("--cache-sim=no", "--vex-guest-chase=no", "-v", "-v", "-v")
#: An argument that names an output file by default (created empty before the run: with the
#: run's directory, the only place the run may write): a relative path with an extension.
#: The objects a Callgrind profile names (``ob=(3) /usr/lib/x86_64-linux-gnu/libc.so.6``).
OBJECT_LINE = re.compile(r"^c?ob=\(\d+\) (/\S+)$", re.M)
#: Valgrind's own files (its preloaded library runs at start-up; the harness unmaps its code).
VALGRIND_DIRS = (
    "/usr/libexec/valgrind/",
    "/usr/lib/x86_64-linux-gnu/valgrind/",
    "/usr/local/libexec/valgrind/",
)
#: A request for executable memory in Valgrind's system-call trace: (call, prot).
EXECUTABLE_REQUEST = re.compile(r"sys_(mmap|mprotect|pkey_mprotect) \( [^,]+, [^,]+, (\d+)")
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
        #: Output files that runs were allowed to write (created by ``_prepare``).
        self._outputs_made: set[str] = set()
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
        candidates = self._candidates(args) if outputs is None else []
        scratch, new = self._fresh_copy(candidates)
        outs = list(outputs) if outputs is not None else self._pick_outputs(candidates, new)
        create = "".join(f": > {shlex.quote(o)} && " for o in outs)
        self._outputs_made.update(outs)
        command = (
            f"{create}{self._launch(scratch, args, outs)}; rc=$?; rm -rf {shlex.quote(scratch)}; exit $rc"
        )
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
        # --trace-syscalls: every system call of the program goes to the log, where a request
        # for executable memory after the lockdown shows (see autolab_harness.h).
        first = self._valgrind("callgrind", args, [*options, "--trace-syscalls=yes"], timeout, env, outs)
        result = first.result
        assert result.ok, (
            f"./{self.binary} {args} failed under Callgrind: {result.describe()}\n{result.output[-3000:]}"
        )
        second = self._valgrind("cachegrind", args, list(CACHEGRIND_OPTIONS), timeout, env, outs)
        try:
            events = parse_callgrind_totals(first.text)
        except CallgrindError as exc:
            pytest.fail(f"./{self.binary} {args}: Callgrind wrote no counts ({exc})", pytrace=False)
        problems = tampering(first, second, events["Ir"])
        problems += self._libraries_with_client_requests(first.text)
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
            "HOME": f"{scratch}/run",
            "TMPDIR": f"{scratch}/run",
            "AUTOLAB_SCRATCH": f"{scratch}/run",
            "LD_BIND_NOW": "1",
            **(extra or {}),
        }

    def _candidates(self, args: str) -> list[str]:
        """The arguments that look like file names: outputs if new or written by an earlier run."""
        try:
            return [w for w in shlex.split(args) if OUTPUT_ARG.match(w)]
        except ValueError:
            return []

    def _pick_outputs(self, candidates: Sequence[str], new: set[str]) -> list[str]:
        # A file this program's runs wrote before is an output again (a rerun with the same name).
        return [w for w in candidates if w in self._outputs_made or w in new]

    def _outputs(self, args: str, outputs: Sequence[str] | None) -> list[str]:
        if outputs is not None:
            return list(outputs)
        candidates = self._candidates(args)
        unknown = [w for w in candidates if w not in self._outputs_made]
        new: set[str] = set()
        if unknown:
            quoted = " ".join(shlex.quote(w) for w in unknown)
            out = self.submission.sandbox.exec(
                f'for f in {quoted}; do [ -e "$f" ] || echo "$f"; done', timeout=60
            )
            new = set(out.stdout.splitlines())
        return self._pick_outputs(candidates, new)

    def _launch(self, scratch: str, args: str, outputs: Sequence[str], prefix: str = "") -> str:
        """The command that runs the fresh copy inside the Landlock domain."""
        program = shlex.quote(f"{scratch}/{self._name}")
        return (
            f"python3 -c {shlex.quote(LAUNCHER)} {shlex.quote(scratch + '/run')} {shlex.quote(','.join(outputs))} -- "
            f"{prefix}{program} {args}"
        )

    def _prepare(self, outputs: Sequence[str]) -> str:
        """A fresh private directory with a hash-checked copy of the binary; outputs made empty."""
        scratch, _ = self._fresh_copy([])
        if outputs:
            made = self.submission.sandbox.exec(
                " && ".join(f": > {shlex.quote(o)}" for o in outputs), timeout=60
            )
            assert made.ok, f"could not create the output files {list(outputs)}: {made.output[-500:]}"
            self._outputs_made.update(outputs)
        return scratch

    def _libraries_with_client_requests(self, profile: str) -> list[str]:
        """The libraries that ran code in the measured run and hold a client request (none should)."""
        libraries = sorted(
            {
                m.group(1)
                for m in OBJECT_LINE.finditer(profile)
                if not m.group(1).startswith(VALGRIND_DIRS) and not m.group(1).endswith("/" + self._name)
            }
        )
        if not libraries:
            return []
        pattern = "".join(f"\\x{b:02x}" for b in CLIENT_REQUEST)
        out = self.submission.sandbox.exec(
            f"LC_ALL=C grep -laP '{pattern}' -- " + " ".join(shlex.quote(p) for p in libraries) + "; true",
            timeout=120,
        )
        return [
            f"ran code of {path}, which holds a Valgrind client request" for path in out.stdout.splitlines()
        ]

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
        out_file, log_file = f"{scratch}/run/{tool}.out", f"{scratch}.log"
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

    def _fresh_copy(self, candidates: Sequence[str]) -> tuple[str, set[str]]:
        """A new private directory holding a copy of the binary whose hash is the build's, and
        ``run/``, the only directory the run may write: not the copy, which Valgrind maps
        without executing it, so that a write to the file would change the running code."""
        command = (
            'd=$(mktemp -d "${TMPDIR:-/tmp}/autolab-run.XXXXXXXX") && chmod 700 "$d" && mkdir "$d/run" && '
            f'cp -- {shlex.quote(self.binary)} "$d"/{shlex.quote(self._name)} && '
            f'echo "$d" && sha256sum -b -- "$d"/{shlex.quote(self._name)}'
        )
        for path in self.hashes:
            if path != self.binary:
                command += f" && sha256sum -b -- {shlex.quote(path)}"
        unknown = [w for w in candidates if w not in self._outputs_made]
        if unknown:
            # Which of the file-like arguments do not exist yet (outputs), in the same command.
            quoted = " ".join(shlex.quote(w) for w in unknown)
            command += f' && for f in {quoted}; do [ -e "$f" ] || echo "new:$f"; done'
        out = self.submission.sandbox.exec(command, timeout=60)
        assert out.ok, f"could not prepare a run of ./{self.binary}: {out.describe()}\n{out.output[-2000:]}"
        lines = [line for line in out.stdout.splitlines() if not line.startswith("new:")]
        new = {line[4:] for line in out.stdout.splitlines() if line.startswith("new:")}
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
        return scratch, new

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
    - After the lockdown the program may not ask for executable memory (Valgrind's trace of its
      system calls shows every request): the harness has already removed every executable place
      a core client request such as ``VALGRIND_NON_SIMD_CALL`` (a function run natively,
      uncounted by either tool) could be sent from.
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
    if abs(other - instructions) > max(CROSS_CHECK_SLACK, CROSS_CHECK_RELATIVE * instructions):
        problems.append(
            f"counted {instructions} instructions under Callgrind but {other} under Cachegrind: "
            "the counting was switched off or reset (a Valgrind client request)"
        )
    if "unhandled client request" in cachegrind.log:
        problems.append("sent a Valgrind client request")
    problems += executable_memory_requests(callgrind.log)
    if callgrind.digests != cachegrind.digests:
        problems.append("wrote different outputs under Callgrind and under Cachegrind")
    return problems


def executable_memory_requests(trace: str) -> list[str]:
    """What Valgrind's system-call trace shows of executable memory asked for after the lockdown
    (the harness's ``prctl(PR_SET_SECCOMP)``), or of a lockdown that never happened."""
    locked, found = False, []
    for line in trace.splitlines():
        if "sys_prctl ( 22," in line:
            locked = True
        elif locked and (m := EXECUTABLE_REQUEST.search(line)) and int(m.group(2)) & 4:
            found.append(f"asked for executable memory after the lockdown ({m.group(0)} ...)")
    if not locked:
        return ["never locked the process down (no seccomp filter in the trace)"]
    return found


def _check_landlock(result: ExecResult) -> None:
    if result.exit_code == LANDLOCK_MISSING_EXIT and "has no Landlock" in result.stderr:
        raise RuntimeError(result.stderr.strip())


def _cat(sandbox: Sandbox, command: str) -> str:
    out = sandbox.exec(command, timeout=60, output_limit=64 * 1024 * 1024)
    return out.stdout if out.ok else ""
