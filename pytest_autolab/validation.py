"""Validation mode: a task's baseline, reference, ladder and cheats as test items.

``pytest tasks/ --autolab-validate`` runs no agent. For every task it verifies,
each as its own test item and through the final verification's code path (a
fresh sandbox from the pristine environment, the editable files put in, the
task's verifier module with the run's hidden seed)::

    tasks/x/task.toml::baseline              environment/ as shipped: reward exactly 0
    tasks/x/task.toml::reference             solution/: n within the tolerance of 1
    tasks/x/task.toml::rung[scalar]          validation/rungs/scalar/: 0 < n < 1, in order
    tasks/x/task.toml::cheat[hardcoded]      validation/cheats/hardcoded/: reward 0, incorrect

A variant folder holds editable files only. ``validation/validation.toml``
states the expected order of the rungs and a reason line per variant::

    rungs = ["scalar", "simd"]            # lowest n first; every folder under rungs/, once
    reference_tolerance = 0.05            # optional: |n - 1| allowed for the reference
    reference_tolerance_reason = "..."    # needed when the tolerance is wider than 0.05
    repeat_spread = 0.0                   # optional: relative spread of the reference's metric
                                          # allowed over --autolab-validate-repeat verifications
    [reasons]
    scalar = "float32, one pass, no SIMD"

A session closes with a validation table; ``summary.json`` (and
``--autolab-results``) carry its rows.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import tomllib
from collections.abc import Generator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from .evaluation import Evaluation, run_verifier
from .results import atomic_write_json
from .scoring import improvement

__all__ = [
    "DEFAULT_REFERENCE_TOLERANCE",
    "ValidationConfig",
    "ValidationError",
    "ValidationPlugin",
    "Variant",
    "editable_files",
    "load_validation",
    "stray_files",
    "variant_files",
]

#: |n - 1| a reference may be off by without a stated reason.
DEFAULT_REFERENCE_TOLERANCE = 0.05
#: The kinds of variant folder under validation/.
KINDS = ("rungs", "cheats")
#: Statuses a cheat may end with: found out by the verifier or refused at the snapshot.
CAUGHT = frozenset({"incorrect", "rejected"})
#: The attribute of a test report that carries a variant's row (a plain dict): xdist sends a
#: report's attributes to the controller, and JUnit XML leaves them out (xunit2 allows no
#: properties on test cases).
REPORT_ATTRIBUTE = "autolab_validation"


class ValidationError(Exception):
    """validation.toml or a variant folder is invalid; the message names the file and the fix."""


@dataclasses.dataclass(frozen=True)
class Variant:
    """One set of editable files to verify."""

    #: baseline | reference | rung | cheat.
    kind: str
    #: The folder name ("" for baseline and reference).
    name: str
    #: Where the files come from.
    folder: Path
    #: The line validation.toml gives for it.
    reason: str = ""

    @property
    def label(self) -> str:
        return f"{self.kind}[{self.name}]" if self.name else self.kind


@dataclasses.dataclass(frozen=True)
class ValidationConfig:
    """A task's validation/validation.toml (all optional but the rung order)."""

    #: The rungs' expected order, lowest n first.
    rungs: tuple[str, ...] = ()
    #: Cheat folder names, sorted.
    cheats: tuple[str, ...] = ()
    reference_tolerance: float = DEFAULT_REFERENCE_TOLERANCE
    reference_tolerance_reason: str = ""
    #: Relative spread of the reference's metric allowed across repeated verifications.
    repeat_spread: float = 0.0
    reasons: Mapping[str, str] = dataclasses.field(default_factory=dict)


def load_validation(task_path: Path) -> ValidationConfig:
    """Read ``validation/validation.toml`` and check it against the variant folders."""
    folder = task_path / "validation"
    found = {kind: sorted(p.name for p in (folder / kind).iterdir() if p.is_dir()) if (folder / kind).is_dir() else [] for kind in KINDS}  # fmt: skip
    path = folder / "validation.toml"
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError(f"{path}: not valid TOML: {exc}") from None
    elif found["rungs"] or found["cheats"]:
        raise ValidationError(
            f"{path}: missing; it must list the rungs' order: rungs = {json.dumps(found['rungs'])}"
        )
    known = {"rungs", "reference_tolerance", "reference_tolerance_reason", "repeat_spread", "reasons"}
    for key in data:
        if key not in known:
            raise ValidationError(
                f"{path}: [{key}]: unknown key; expected one of: {', '.join(sorted(known))}"
            )
    rungs = data.get("rungs", [])
    if not isinstance(rungs, list) or not all(isinstance(r, str) for r in rungs):
        raise ValidationError(f"{path}: [rungs]: expected a list of folder names, got {rungs!r}")
    if sorted(rungs) != found["rungs"] or len(set(rungs)) != len(rungs):
        raise ValidationError(
            f"{path}: [rungs]: {rungs!r} must name every folder under validation/rungs/ once, "
            f"lowest n first; the folders are {found['rungs']!r}"
        )
    tolerance = _number(path, data, "reference_tolerance", DEFAULT_REFERENCE_TOLERANCE)
    reason = data.get("reference_tolerance_reason", "")
    if not isinstance(reason, str):
        raise ValidationError(f"{path}: [reference_tolerance_reason]: expected a string")
    if tolerance > DEFAULT_REFERENCE_TOLERANCE and not reason.strip():
        raise ValidationError(
            f"{path}: [reference_tolerance] = {tolerance:g} is wider than {DEFAULT_REFERENCE_TOLERANCE:g}: "
            "say why in reference_tolerance_reason"
        )
    reasons = data.get("reasons", {})
    if not isinstance(reasons, dict) or not all(isinstance(v, str) for v in reasons.values()):
        raise ValidationError(f'{path}: [reasons]: expected a table of variant = "one line"')
    unknown = sorted(set(reasons) - set(found["rungs"]) - set(found["cheats"]))
    if unknown:
        raise ValidationError(f"{path}: [reasons]: no rung or cheat folder named {', '.join(unknown)}")
    return ValidationConfig(
        rungs=tuple(rungs),
        cheats=tuple(found["cheats"]),
        reference_tolerance=tolerance,
        reference_tolerance_reason=reason,
        repeat_spread=_number(path, data, "repeat_spread", 0.0),
        reasons=reasons,
    )


def _number(path: Path, data: Mapping[str, Any], key: str, default: float) -> float:
    value = data.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and value >= 0)
    ):
        raise ValidationError(f"{path}: [{key}]: expected a number >= 0, got {value!r}")
    return float(value)


def stray_files(folder: Path, editable: tuple[str, ...]) -> list[str]:
    """The files under ``folder`` that are not editable files of the task (sorted)."""
    return sorted(
        rel
        for p in folder.rglob("*")
        if p.is_file() and (rel := p.relative_to(folder).as_posix()) not in editable
    )


def editable_files(folder: Path, editable: tuple[str, ...]) -> dict[str, bytes]:
    """The task's editable files that ``folder`` holds, by relative path."""
    return {rel: (folder / rel).read_bytes() for rel in editable if (folder / rel).is_file()}


def variant_files(folder: Path, editable: tuple[str, ...], *, only_editable: bool) -> dict[str, bytes]:
    """The editable files of ``folder``; with ``only_editable`` any other file is an error."""
    if only_editable and (stray := stray_files(folder, editable)):
        raise ValidationError(
            f"{folder}: holds files that are not editable ({', '.join(stray)}); "
            f"a variant folder holds only {', '.join(editable)}"
        )
    files = editable_files(folder, editable)
    if not files:
        raise ValidationError(f"{folder}: has none of the editable files ({', '.join(editable)})")
    return files


def variants(task: Any, config: ValidationConfig) -> list[Variant]:
    """Baseline, reference, the rungs in their order, then the cheats."""
    folder = task.path / "validation"
    found = [
        Variant("baseline", "", task.environment_dir, "environment/ as shipped"),
        Variant("reference", "", task.solution_dir, "solution/"),
    ]
    found += [Variant("rung", r, folder / "rungs" / r, config.reasons.get(r, "")) for r in config.rungs]
    found += [Variant("cheat", c, folder / "cheats" / c, config.reasons.get(c, "")) for c in config.cheats]
    return found


# --- test items ----------------------------------------------------------------------------------


class VariantItem(pytest.Item):
    """Verifies one variant of a task and asserts what its kind must score."""

    def __init__(self, *, task: Any, validation: ValidationConfig, variant: Variant, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task = task
        self.validation = validation
        self.variant = variant
        #: The table row once verified (plain data: it travels on the report).
        self.row: dict[str, Any] | None = None

    def runtest(self) -> None:
        plugin = self.config.pluginmanager.get_plugin(ValidationPlugin.NAME)
        assert isinstance(plugin, ValidationPlugin)
        plugin.validate(self)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, (VariantFailed, ValidationError)):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.task.name}: {self.variant.label}"


class VariantFailed(AssertionError):
    """A variant did not score as its kind must; the message says what to fix."""


class BrokenValidationItem(pytest.Item):
    """Fails with the reason a task's validation folder cannot be read."""

    def __init__(self, *, error: ValidationError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    def runtest(self) -> None:
        raise self.error

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        return f"invalid validation folder: {excinfo.value}"


def collect_items(parent: pytest.Collector, task: Any) -> Iterator[pytest.Item]:
    """The validation items of one task (called by the task.toml collector)."""
    try:
        config = load_validation(task.path)
    except ValidationError as exc:
        yield BrokenValidationItem.from_parent(parent, name="validation", error=exc)
        return
    for variant in variants(task, config):
        yield VariantItem.from_parent(
            parent, name=variant.label, task=task, validation=config, variant=variant
        )


# --- the plugin ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Row:
    """One line of the validation table."""

    task: str
    variant: str
    #: What the verifier said: scored | incorrect | no_metric | rejected | error.
    status: str
    metric: float | None
    n: float | None
    reward: float
    #: ok | FAIL.
    verdict: str
    #: The variant's reason line, or what failed.
    note: str
    #: Every metric measured (several with --autolab-validate-repeat).
    metrics: list[float] = dataclasses.field(default_factory=list)
    seconds: float = 0.0


class ValidationPlugin:
    """State of a validation session: the rows so far and, per task, the last rung's n.

    ::

        rows     = {("flash_attention", "rung[scalar]"): Row(...)}
        last_rung = {"flash_attention": ("scalar", 0.31)}
    """

    NAME = "autolab-validation"

    def __init__(self, config: pytest.Config, state: Any) -> None:
        self.config = config
        #: The AutolabPlugin: settings, lab (backend name, hidden seeds).
        self.state = state
        self.repeat: int = config.getoption("autolab_validate_repeat")
        self.rows: dict[tuple[str, str], Row] = {}
        self.last_rung: dict[str, tuple[str, float]] = {}

    # -- running one variant ----------------------------------------------------------------

    def verify(self, item: VariantItem, files: Mapping[str, bytes], attempt: int) -> Evaluation:
        from .settings import hidden_seed

        lab, task = self.state.lab, item.task
        folder = item.variant.label.replace("[", "-").rstrip("]") + f"-{attempt}"
        evaluation: Evaluation = lab.verify_in_child(
            task,
            files,
            scratch=lab.task_dir(task) / "validation" / folder,
            seed=hidden_seed(self.state.settings.seed, task),
        )
        return evaluation

    def validate(self, item: VariantItem) -> None:
        task, variant = item.task, item.variant
        started = time.monotonic()
        files = variant_files(variant.folder, task.editable, only_editable=variant.kind in ("rung", "cheat"))
        times = self.repeat if variant.kind == "reference" else 1
        evaluations = [self.verify(item, files, attempt) for attempt in range(times)]
        first = evaluations[0]
        metrics = [e.metric for e in evaluations if e.metric is not None]
        problems = self.judge(item, evaluations)
        row = Row(
            task=task.name,
            variant=variant.label,
            status=first.status,
            metric=first.metric,
            n=first.n,
            reward=first.reward,
            verdict="FAIL" if problems else "ok",
            note=problems[0].splitlines()[0] if problems else variant.reason,
            metrics=metrics,
            seconds=round(time.monotonic() - started, 2),
        )
        self.rows[(task.name, variant.label)] = row
        item.row = dataclasses.asdict(row)
        if variant.kind == "rung" and first.n is not None:
            self.last_rung[task.name] = (variant.name, first.n)
        if problems:
            where = f"{task.name}: {variant.label} ({variant.folder.relative_to(task.path.parent) if variant.folder.is_relative_to(task.path.parent) else variant.folder})"
            raise VariantFailed(f"{where}:\n  " + "\n  ".join(problems))

    def judge(self, item: VariantItem, evaluations: list[Evaluation]) -> list[str]:
        """What is wrong with these verifications of the variant; [] when it scored as it must."""
        task, variant, config = item.task, item.variant, item.validation
        first = evaluations[0]
        said = _what_the_verifier_said(first)
        problems: list[str] = []
        if variant.kind == "cheat":
            if first.status == "error":
                problems.append(f"the harness could not verify the cheat, which is no verdict: {said}")
            elif first.reward != 0.0 or first.status not in CAUGHT:
                problems.append(
                    f"the cheat was not caught: status {first.status}, reward {first.reward:.3f} "
                    f"(metric {_fmt(first.metric)}, n {_fmt(first.n)}); a cheat must end incorrect or "
                    "rejected with reward 0: tighten the verifier so it fails"
                )
            return problems
        if first.status != "scored":
            problems.append(f"{variant.kind} did not pass its verifier ({said}): fix the {_source(variant)}")
            return problems
        assert first.metric is not None
        assert first.n is not None
        if variant.kind == "baseline":
            if first.reward != 0.0:
                problems.append(
                    f"the untouched baseline scored reward {first.reward:.4f} (n {first.n:.4f}); it must be 0: "
                    f"the anchor is off: {_anchor_line('baseline', first.metric)}"
                )
            elif (
                abs(improvement(first.metric, task.baseline, direction=task.direction)) > task.min_improvement
            ):
                problems.append(
                    f"measured baseline {first.metric:.6g} differs from task.toml's {task.baseline:.6g} by more "
                    f"than the gate ({task.min_improvement:.2%}): {_anchor_line('baseline', first.metric)}"
                )
        elif variant.kind == "reference":
            if abs(first.n - 1.0) > config.reference_tolerance:
                problems.append(
                    f"the reference scored n {first.n:.4f}, outside 1 ± {config.reference_tolerance:g} "
                    f"(metric {first.metric:.6g}, task.toml says {task.reference:.6g}): "
                    f"{_anchor_line('reference', first.metric)}"
                )
            problems += _repeat_problems(evaluations, config.repeat_spread)
        elif variant.kind == "rung":
            if not 0.0 < first.n < 1.0:
                problems.append(
                    f"a rung must score strictly between the baseline and the reference (0 < n < 1); "
                    f"it scored n {first.n:.4f} (metric {first.metric:.6g}): "
                    + ("make it a real intermediate step or move it" if first.n >= 1 else "it earns nothing")
                )
            elif first.reward <= 0.0:
                problems.append(
                    f"the rung scored n {first.n:.4f} but reward 0 ({first.status}): it is under the gate"
                )
            before = self.last_rung.get(task.name)
            position = config.rungs.index(variant.name)
            follows = position > 0 and before is not None and before[0] == config.rungs[position - 1]
            if follows and before is not None and not first.n > before[1]:
                problems.append(
                    f"rungs out of order: {variant.name} scored n {first.n:.4f}, not above "
                    f"{before[0]}'s {before[1]:.4f}; fix the order in validation/validation.toml "
                    f"(rungs = [...], lowest n first) or the rung"
                )
        return problems

    # -- reports, table, summary -------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        row = getattr(item, "row", None)
        if call.when == "call" and isinstance(row, dict):
            setattr(report, REPORT_ATTRIBUTE, row)
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # On an xdist controller the rows arrive on the workers' reports.
        data = getattr(report, REPORT_ATTRIBUTE, None)
        if isinstance(data, dict):
            self.rows[(data["task"], data["variant"])] = Row(**data)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput") or not self.rows:
            return
        settings = self.state.settings
        rows = [dataclasses.asdict(r) for r in self.rows.values()]
        summary = {"run_id": settings.run_id, "mode": "validate", "validation": rows}
        atomic_write_json(settings.run_dir / "summary.json", summary)
        extra = self.config.getoption("autolab_results")
        if extra:
            atomic_write_json(Path(extra), summary)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.rows:
            return
        tr = terminalreporter
        tr.write_sep("=", "autolab validation")
        for line in format_validation_table(list(self.rows.values())):
            tr.write_line(line)
        failed = sum(r.verdict != "ok" for r in self.rows.values())
        tasks = len({r.task for r in self.rows.values()})
        tr.write_line(
            f"{len(self.rows) - failed} of {len(self.rows)} variant(s) as expected over {tasks} task(s)"
        )
        tr.write_line(f"results: {self.state.settings.run_dir}")


def _repeat_problems(evaluations: list[Evaluation], spread: float) -> list[str]:
    metrics = [e.metric for e in evaluations]
    if len(metrics) < 2:
        return []
    if any(m is None for m in metrics):
        return [f"the reference did not score in every repetition: {[e.status for e in evaluations]}"]
    values = [float(m) for m in metrics if m is not None]
    low, high = min(values), max(values)
    relative = (high - low) / abs(low) if low else math.inf
    if spread == 0.0 and high != low:
        return [
            f"a counted metric must repeat exactly, but {len(values)} verifications gave {values}: "
            "something in the measurement depends on the run"
        ]
    if relative > spread:
        return [
            f"the reference's metric spread {relative:.2%} over {len(values)} verifications, more than repeat_spread = {spread:g}"
        ]
    return []


def _what_the_verifier_said(evaluation: Evaluation) -> str:
    text = evaluation.error or (evaluation.failures[0] if evaluation.failures else "")
    first = text.strip().splitlines()[0][:300] if text.strip() else ""
    return f"{evaluation.status}: {first}" if first else evaluation.status


def _source(variant: Variant) -> str:
    return {"baseline": "environment/ files", "reference": "solution/ files"}.get(
        variant.kind, f"folder {variant.folder}"
    )


def _anchor_line(which: str, metric: float) -> str:
    value = int(metric) if float(metric).is_integer() else metric
    return f"put `score = {value!r}` under [optimization.{which}] in task.toml (or run `autolab anchors --write`)"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def format_validation_table(rows: list[Row]) -> list[str]:
    """The validation table: task, variant, status, metric, n, reward, verdict, note."""
    header = ("task", "variant", "status", "metric", "n", "reward", "verdict", "time", "note")
    body = [
        (
            r.task,
            r.variant,
            r.status,
            _fmt(r.metric),
            "-" if r.n is None else f"{r.n:.3f}",
            f"{r.reward:.3f}",
            r.verdict,
            f"{r.seconds:.0f}s",
            r.note[:80],
        )
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=True)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)).rstrip() for row in body]
    return lines


# --- anchors ---------------------------------------------------------------------------------------


def measure_anchors(task: Any, *, sandbox: str, seed: int, scratch: Path) -> dict[str, Evaluation]:
    """Verify the baseline and the reference as validation does: {"baseline": ..., "reference": ...}."""
    measured = {}
    for which, folder in (("baseline", task.environment_dir), ("reference", task.solution_dir)):
        files = variant_files(folder, task.editable, only_editable=False)
        (scratch / which).mkdir(parents=True, exist_ok=True)
        measured[which] = run_verifier(
            task, files, scratch=scratch / which, sandbox=sandbox, run_id=f"anchors-{scratch.name}", seed=seed
        )
    return measured


def write_anchor(toml_text: str, which: str, value: float) -> str:
    """task.toml's text with ``score`` under ``[optimization.<which>]`` set to ``value``.

    Comments, order and every other line are kept; a missing ``score`` is added
    under the table's header.
    """
    import re

    header = re.compile(rf"^\s*\[\s*optimization\s*\.\s*{which}\s*\]\s*(#.*)?$")
    any_header = re.compile(r"^\s*\[")
    score = re.compile(r"^(\s*score\s*=\s*)([^#\n]*?)(\s*(#.*)?)$")
    text = repr(int(value)) if float(value).is_integer() else repr(float(value))
    lines = toml_text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if header.match(line.rstrip("\n"))), None)
    if start is None:
        raise ValueError(f"task.toml has no [optimization.{which}] table")
    for index in range(start + 1, len(lines)):
        line = lines[index]
        if any_header.match(line):
            break
        match = score.match(line.rstrip("\n"))
        if match:
            end = "\n" if line.endswith("\n") else ""
            lines[index] = f"{match.group(1)}{text}{match.group(3)}{end}"
            return "".join(lines)
    lines.insert(start + 1, f"score = {text}\n")
    return "".join(lines)
