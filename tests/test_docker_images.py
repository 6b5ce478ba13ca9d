"""Images: the base image's definition and tag, task images, builds and the CLI."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import subprocess
import sys
import tarfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_autolab import cli
from pytest_autolab.sandboxes.docker import DockerBackend
from pytest_autolab.sandboxes.images import (
    DEFINITION_DIR,
    BaseDefinition,
    ImageBuildError,
    debian_mirror,
    ensure_base_image,
    read_packages,
    task_build_context,
    task_dockerfile,
    task_image_tag,
)
from pytest_autolab.tasks import Task, load_task

from .conftest import open_docker_backend, write_task


def make_task(root: Path, name: str = "image_probe", dockerfile: str | None = None, marker: str = "") -> Task:
    """root/tasks/<name>/: main.c (``marker`` makes its content new) and src/run.sh."""
    return load_task(
        write_task(
            root,
            name,
            environment={
                "main.c": f"int main(void) {{ return 0; }} /* {marker} */\n",
                "src/run.sh": "#!/bin/sh\necho run\n",
            },
            executable=["src/run.sh"],
            verifier="def test_nothing():\n    pass\n",
            dockerfile=dockerfile,
            instruction="Make it faster.\n",
            **{  # type: ignore[arg-type]
                "agent.timeout_sec": None,
                "verifier.timeout_sec": None,
                "environment.cpus": None,
                "environment.memory_mb": 256,
                "optimization.metric": "seconds",
                "optimization.baseline.score": 10,
                "optimization.reference.score": 1,
                "autolab.axis": "faster",
                "autolab.editable": ["main.c"],
                "autolab.max_evaluations": None,
            },
        )
    )


def copy_definition(tmp_path: Path) -> Path:
    folder = tmp_path / "base_image"
    shutil.copytree(DEFINITION_DIR, folder)
    return folder


# --- the base image's definition ----------------------------------------------------------------


def test_the_package_list_ignores_comments_and_blank_lines() -> None:
    assert read_packages("# toolchains\npython3  # and numpy\n\ngcc make\n") == ("python3", "gcc", "make")


def test_the_shipped_definition_has_the_toolchains_tasks_need() -> None:
    packages = set(BaseDefinition.load().packages)
    assert {
        "python3",
        "python3-numpy",
        "gcc",
        "g++",
        "make",
        "valgrind",
        "rustc",
        "cargo",
        "golang-go",
    } <= packages


def test_the_base_tag_is_a_hash_of_the_definition(tmp_path: Path) -> None:
    folder = copy_definition(tmp_path)
    first = BaseDefinition.load(folder)
    assert first.tag == f"autolab-base:{first.digest}"
    assert BaseDefinition.load(folder).digest == first.digest
    assert BaseDefinition.load(folder, suite="trixie").digest != first.digest
    with (folder / "packages.txt").open("a") as handle:
        handle.write("strace\n")
    changed = BaseDefinition.load(folder)
    assert changed.digest != first.digest
    assert changed.packages[-1] == "strace"


def test_an_empty_package_list_is_refused(tmp_path: Path) -> None:
    folder = copy_definition(tmp_path)
    (folder / "packages.txt").write_text("# nothing\n")
    with pytest.raises(ImageBuildError, match="lists no package"):
        BaseDefinition.load(folder)


def test_the_mirror_comes_from_the_machines_apt_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUTOLAB_DEBIAN_MIRROR", raising=False)
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    assert debian_mirror("bookworm", apt) is None  # debootstrap's own default then
    (apt / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://security.invalid/debian-security\nSuites: bookworm-security\n"
        "Components: main\n"
    )
    assert debian_mirror("bookworm", apt) == "http://mirror.invalid/debian"
    (apt / "sources.list").write_text("deb [arch=amd64] http://list.invalid/debian bookworm main contrib\n")
    assert debian_mirror("bookworm", apt) == "http://list.invalid/debian"
    assert debian_mirror("trixie", apt) is None
    monkeypatch.setenv("AUTOLAB_DEBIAN_MIRROR", "http://explicit.invalid/debian")
    assert debian_mirror("bookworm", apt) == "http://explicit.invalid/debian"


class _NoImages:
    """A client whose engine has no image at all."""

    class api:  # mirrors docker.DockerClient.api
        @staticmethod
        def inspect_image(tag: str) -> None:
            import docker.errors

            raise docker.errors.ImageNotFound(f"No such image: {tag}")


def test_bootstrapping_without_debootstrap_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    definition = BaseDefinition.load(copy_definition(tmp_path))
    with pytest.raises(
        ImageBuildError, match=r"debootstrap is not installed \(.*apt-get install debootstrap\)"
    ):
        ensure_base_image(_NoImages(), definition=definition, method="debootstrap")


def test_an_unknown_build_method_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOLAB_CACHE_DIR", str(tmp_path / "cache"))
    definition = BaseDefinition.load(copy_definition(tmp_path))
    with pytest.raises(ImageBuildError, match="expected auto, dockerfile or debootstrap"):
        ensure_base_image(_NoImages(), definition=definition, method="kaniko")


# --- task images --------------------------------------------------------------------------------


def test_the_task_tag_follows_the_base_and_the_content(tmp_path: Path) -> None:
    task = make_task(tmp_path / "a")
    same = make_task(tmp_path / "b")
    tag = task_image_tag(task, "autolab-base:1")
    assert tag.startswith("autolab-task-image_probe:")
    assert task_image_tag(same, "autolab-base:1") == tag  # content, not location
    assert task_image_tag(task, "autolab-base:2") != tag
    (task.environment_dir / "main.c").write_text("int main(void) { return 1; }\n")
    assert task_image_tag(task, "autolab-base:1") != tag


def test_a_task_without_dockerfile_gets_the_implicit_one(tmp_path: Path) -> None:
    task = make_task(tmp_path)
    assert task_dockerfile(task, "autolab-base:abc") == "FROM autolab-base:abc\nCOPY . /app/\n"


def test_from_autolab_base_is_pinned_to_the_runs_base(tmp_path: Path) -> None:
    task = make_task(tmp_path, dockerfile="FROM autolab-base\nCOPY . /app/\nRUN make\n")
    assert task_dockerfile(task, "autolab-base:abc").splitlines()[0] == "FROM autolab-base:abc"
    other = make_task(tmp_path / "x", dockerfile="from autolab-base:latest AS build\n")
    assert task_dockerfile(other, "autolab-base:abc") == "from autolab-base:abc AS build\n"


def test_the_build_context_keeps_modes_and_leaves_dockerfiles_out_of_app(tmp_path: Path) -> None:
    task = make_task(tmp_path, dockerfile="FROM autolab-base\nCOPY . /app/\n")
    (task.environment_dir / ".dockerignore").write_text("*.o\n")
    with tarfile.open(fileobj=task_build_context(task, "autolab-base:abc")) as tar:
        members = {m.name: m for m in tar.getmembers()}
        ignore = tar.extractfile(".dockerignore").read().decode()  # type: ignore[union-attr]
    assert set(members) == {"main.c", "src", "src/run.sh", "Dockerfile", ".dockerignore"}
    assert members["src/run.sh"].mode & 0o777 == 0o755
    assert members["main.c"].uid == 0
    assert ignore.splitlines() == ["*.o", "Dockerfile", ".dockerignore"]


# --- against the engine -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backend(request: pytest.FixtureRequest) -> Iterator[DockerBackend]:
    backend = open_docker_backend(request, "images")
    yield backend
    backend.sweep({"autolab.run": backend.run_id})
    backend.close()


def _remove_image(backend: DockerBackend, tag: str) -> None:
    import docker.errors

    with contextlib.suppress(docker.errors.NotFound):
        backend.client.api.remove_image(tag, force=True)


@pytest.mark.docker
def test_a_task_dockerfile_builds_on_the_base_without_network(backend: DockerBackend, tmp_path: Path) -> None:
    dockerfile = textwrap.dedent(
        """\
        FROM autolab-base
        COPY . /app/
        RUN cd /app && gcc -O2 -o prog main.c && echo built > /built.txt
        RUN python3 -c 'import socket; socket.create_connection(("192.0.2.1", 80), timeout=5)' 2>/net.txt || true
        """
    )
    task = make_task(tmp_path, name="dockerfile_probe", dockerfile=dockerfile, marker=secrets.token_hex(4))
    tag = backend.task_image(task)
    try:
        with backend.start(task, role="agent", labels={"autolab.run": backend.run_id}) as box:
            listing = box.exec("ls -A /app /app/src; cat /built.txt; ./prog && echo ran; ./src/run.sh")
            assert listing.stdout.split() == [
                "/app:", "main.c", "prog", "src", "/app/src:", "run.sh", "built", "ran", "run",
            ]  # fmt: skip
            assert "Network is unreachable" in box.exec("cat /net.txt").stdout
    finally:
        _remove_image(backend, tag)


@pytest.mark.docker
def test_a_failing_task_build_is_a_clear_error(backend: DockerBackend, tmp_path: Path) -> None:
    task = make_task(
        tmp_path, name="broken_probe", dockerfile="FROM autolab-base\nRUN echo about to fail && false\n"
    )
    with pytest.raises(ImageBuildError) as excinfo:
        backend.prepare(task)
    message = str(excinfo.value)
    assert "the image of task broken_probe" in message
    assert "Step 2/" in message
    assert "RUN echo about to fail && false" in message
    assert "returned a non-zero code: 1" in message
    assert "about to fail" in message.splitlines()[-1]


@pytest.mark.docker
def test_a_failing_build_is_an_error_status_not_a_crash(backend: DockerBackend, tmp_path: Path) -> None:
    from pytest_autolab.lab import Lab, RunSettings

    task = make_task(tmp_path, name="broken_lab_probe", dockerfile="FROM autolab-base\nRUN false\n")
    lab = Lab(RunSettings(run_id=backend.run_id, run_dir=tmp_path / "run", sandbox="docker"))
    lab._backend = backend
    run = lab.agent_run(task)
    assert run.status == "error"
    assert "broken_lab_probe" in run.reason
    assert "RUN false" in run.reason


@pytest.mark.docker
def test_building_from_the_dockerfile_without_a_registry_says_so(
    backend: DockerBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOLAB_CACHE_DIR", str(tmp_path / "cache"))
    definition = BaseDefinition.load(copy_definition(tmp_path), suite="autolab-no-such-suite")
    with pytest.raises(ImageBuildError, match=r"the base image autolab-base:\w+ .* failed at"):
        ensure_base_image(backend.client, definition=definition, method="dockerfile")


@pytest.mark.docker
def test_an_existing_base_image_is_reused_without_building(backend: DockerBackend) -> None:
    said: list[str] = []
    assert ensure_base_image(backend.client, progress=said.append) == BaseDefinition.load().tag
    assert said == []


CONCURRENT_BUILD = """\
import sys
from pytest_autolab.sandboxes.docker import DockerBackend
from pytest_autolab.tasks import load_task
backend = DockerBackend(run_id="concurrent", progress=lambda m: print(m, flush=True), sweep=False)
print("TAG", backend.task_image(load_task(sys.argv[1])), flush=True)
backend.close()
"""


@pytest.mark.docker
@pytest.mark.slow
def test_concurrent_processes_build_a_task_image_once(backend: DockerBackend, tmp_path: Path) -> None:
    task = make_task(tmp_path, name="concurrent_probe", marker=secrets.token_hex(8))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_BUILD, str(task.path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outputs = [proc.communicate(timeout=600)[0] for proc in procs]
    try:
        assert all(proc.returncode == 0 for proc in procs), outputs
        tags = {line.split()[1] for out in outputs for line in out.splitlines() if line.startswith("TAG ")}
        assert len(tags) == 1
        builds = [line for out in outputs for line in out.splitlines() if line.startswith("building ")]
        assert len(builds) == 1, outputs
    finally:
        _remove_image(backend, task_image_tag(task, backend.base_image()))


# --- the command --------------------------------------------------------------------------------


@pytest.mark.docker
def test_image_status_shows_the_base_and_the_containers(
    backend: DockerBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["image", "status"]) == 0
    out = capsys.readouterr().out
    assert f"base image: {BaseDefinition.load().tag} present" in out
    assert "containers:" in out


@pytest.mark.docker
def test_image_build_reuses_what_is_there(backend: DockerBackend, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["image", "build"]) == 0
    assert f"{BaseDefinition.load().tag} ready" in capsys.readouterr().out


@pytest.mark.docker
def test_sweep_command_removes_the_named_run(
    backend: DockerBackend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = make_task(tmp_path, name="sweep_probe")
    backend.start(task, role="agent", labels={"autolab.run": "cli-sweep-probe"})
    assert cli.main(["sweep", "--run", "cli-sweep-probe"]) == 0
    assert "removed 1 container(s) of run cli-sweep-probe" in capsys.readouterr().out
    assert cli.main(["sweep"]) == 0
    assert "left by harnesses that are gone" in capsys.readouterr().out


def test_the_command_without_an_engine_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/dead.sock")
    assert cli.main(["image", "status"]) == 1
    assert capsys.readouterr().err.startswith("autolab: cannot reach a Docker engine at unix://")


def test_the_command_needs_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        cli.main([])
    assert excinfo.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


class _NoRegistry:
    """An engine with no image, no container and no registry to pull from."""

    class api(_NoImages.api):
        @staticmethod
        def containers(**kwargs: object) -> list[dict[str, str]]:
            return []

    class images:  # the docker client's attribute
        @staticmethod
        def pull(name: str) -> None:
            import docker.errors

            raise docker.errors.APIError(
                f"Get https://registry/v2/: dial tcp: lookup registry: no such host ({name})"
            )

    def close(self) -> None:
        pass


def test_auto_uses_docker_only_where_the_base_image_can_be_had(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh machine with Docker, no debootstrap and no registry: every task would end as
    `error`; auto picks the local sandbox instead and says how to enable Docker (issue 7)."""
    from pytest_autolab.sandboxes import docker as docker_module
    from pytest_autolab.sandboxes import get_backend, images

    client = _NoRegistry()
    monkeypatch.setattr(docker_module, "connect", lambda *args, **kwargs: client)
    monkeypatch.setattr(images, "debootstrap_usable", lambda: "debootstrap is not installed")
    monkeypatch.delenv("AUTOLAB_BASE_METHOD", raising=False)
    notes: list[str] = []
    backend = get_backend("auto", run_id="r", notes=notes)
    assert backend.name == "local"
    assert len(notes) == 1
    assert "a Docker engine answers, but the base image autolab-base:" in notes[0]
    assert "(no registry answered; debootstrap is not installed)" in notes[0]
    assert "`autolab image build`" in notes[0]

    monkeypatch.setattr(images, "debootstrap_usable", lambda: None)
    assert get_backend("auto", run_id="r", notes=notes).name == "docker"


def test_a_bootstrap_leaves_no_file_unclosed(tmp_path: Path) -> None:
    """The debootstrap output pipe was never closed: its ResourceWarning, on a cold build,
    failed a verifier test under filterwarnings = error (issue 7)."""
    import gc
    import warnings

    from pytest_autolab.sandboxes.images import _run_with_phases

    seen: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _run_with_phases(
            [sys.executable, "-c", "print('I: Retrieving Release'); print('I: Validating x')"],
            seen.append,
            what="a fake bootstrap",
        )
        gc.collect()
    assert seen == ["  Retrieving Release", "  Validating x"]
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
