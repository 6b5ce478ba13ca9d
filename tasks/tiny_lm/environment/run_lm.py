"""Train the model, or score it on a text, exactly as the verifier does (read-only).

    python3 run_lm.py train BUDGET_S model.bin        # train.train(data/train.txt, BUDGET_S) -> model.bin
    python3 run_lm.py eval model.bin data/valid.txt   # bits per character of model.bin on a text
    python3 run_lm.py sample model.bin 400            # 400 characters drawn from the model

``train`` stops the process at BUDGET_S seconds of CPU time (the verifier passes its budget,
TRAIN_UNITS calibrated units, and also counts the CPU time of any process train.py starts).

``score MODEL INPUT LIMIT_S`` is what the verifier runs in a fresh sandbox without data/: INPUT
holds a nonce on its first line, then the text; it is read and deleted at once. This process
then makes itself unreadable to other processes (not dumpable), and runs the submission's
``Predictor`` in a fresh interpreter (fork + exec: the text is not in its memory), with
LIMIT_S seconds of CPU. It sends the text one character at a time over a pipe and, before each
character, reads the predictor's distribution over the alphabet for it (float64, one row):
every row must be finite, positive and sum to 1 within 1e-6. The log2-probabilities of the
true characters go to scores.f64; the report (one JSON line with the nonce) to stdout.
``eval`` runs ``score`` on a copy of a text.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import math
import os
import resource
import secrets
import select
import signal
import subprocess
import sys
import tempfile
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one thread: the budget is CPU time, however it is spent

import numpy as np  # noqa: E402 - after the thread counts are set

HERE = os.path.dirname(os.path.abspath(__file__))
ALPHABET = "\n .abcdefghijklmnopqrstuvwxyz"
V = len(ALPHABET)
#: The largest model.bin accepted.
MODEL_LIMIT = 8 * 1024 * 1024
#: |sum(row) - 1| allowed.
TOLERANCE = 1e-6
#: Wall-clock limit of scoring, as a multiple of its CPU limit.
WALL_FACTOR = 4.0
#: Exit status of ``train`` when the CPU budget ran out.
OVER_BUDGET_EXIT = 3
#: The first message: "give me the distribution of the first character".
START = 255


def set_cpu_limit(seconds: float) -> None:
    """SIGXCPU past ``seconds`` of CPU time (this process, all threads), SIGKILL a second later."""
    soft = max(1, math.ceil(seconds))
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    new_hard = soft + 1 if hard == resource.RLIM_INFINITY else min(soft + 1, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (min(soft, new_hard), new_hard))


def import_submission():
    sys.path.insert(0, HERE)
    import train

    return train


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- train ---------------------------------------------------------------------------------------


def _over_budget(signum: int, frame: object) -> None:
    sys.stderr.write("train.py used up its CPU budget and was stopped\n")
    os._exit(OVER_BUDGET_EXIT)


def cmd_train(budget_s: float, model_path: str) -> None:
    signal.signal(signal.SIGXCPU, _over_budget)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    set_cpu_limit(budget_s)
    with open(os.path.join(HERE, "data", "train.txt")) as f:
        text = f.read()
    train = import_submission()
    blob = train.train(text, budget_s)
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise SystemExit(f"train() must return the model as bytes, got {type(blob).__name__}")
    blob = bytes(blob)
    if len(blob) > MODEL_LIMIT:
        raise SystemExit(f"the model has {len(blob)} bytes: at most {MODEL_LIMIT} are accepted")
    with open(model_path, "wb") as f:
        f.write(blob)
    print(f"trained in {cpu_self():.1f} s CPU (budget {budget_s:.1f} s): {len(blob)} bytes", file=sys.stderr)


# --- score ---------------------------------------------------------------------------------------


def cmd_child(model_path: str, rfd: int, wfd: int) -> None:
    """The predictor's side: a character in (or START), its next distribution out."""
    train = import_submission()
    with open(model_path, "rb") as f:
        predictor = train.Predictor(f.read())
    with os.fdopen(rfd, "rb", buffering=0) as r, os.fdopen(wfd, "wb", buffering=0) as w:
        while True:
            message = r.read(1)
            if not message:
                return
            if message[0] != START:
                predictor.observe(message[0])
            row = np.ascontiguousarray(predictor.probs(), dtype="<f8")
            if row.shape != (V,):
                raise SystemExit(f"Predictor.probs() must return {V} probabilities, got shape {row.shape}")
            w.write(row.tobytes())


def _read_exactly(fd: int, size: int, deadline: float) -> bytes:
    chunks, got = [], 0
    while got < size:
        wait = deadline - time.monotonic()
        if wait <= 0 or not select.select([fd], [], [], wait)[0]:
            raise TimeoutError
        chunk = os.read(fd, size - got)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def drop_capabilities() -> None:
    """Give up every capability for good (this process and what it executes), so that being
    root, as in the local sandbox, does not open other processes' memory (CAP_SYS_PTRACE).
    Where they are already gone (Docker drops them all) the calls fail harmlessly."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in range(64):  # PR_CAPBSET_DROP each, up to EINVAL (no such capability)
        if libc.prctl(24, cap, 0, 0, 0) != 0 and ctypes.get_errno() == 22:
            break
    libc.prctl(47, 4, 0, 0, 0)  # PR_CAP_AMBIENT_CLEAR_ALL
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    number = {"x86_64": 126, "aarch64": 91}.get(os.uname().machine)
    if number is not None:
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
        data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable (two words each): none
        libc.syscall(number, header, data)


def _kill_descendants() -> None:
    """SIGKILL every process left whose parent is this one (it is their subreaper), and reap."""
    me = str(os.getpid())
    while True:
        found = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == me:
                found += 1
                with contextlib.suppress(OSError):
                    os.kill(int(entry), signal.SIGKILL)
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        if not found:
            return
        time.sleep(0.01)


def score(model_path: str, input_path: str, limit_s: float) -> dict:
    with open(input_path, "rb") as f:
        raw = f.read()
    os.unlink(input_path)
    nonce, _, body = raw.partition(b"\n")
    text = body.decode()
    codes = np.frombuffer(text.encode(), dtype=np.uint8)
    lookup = np.full(256, 255, dtype=np.uint8)
    lookup[np.frombuffer(ALPHABET.encode(), dtype=np.uint8)] = np.arange(V, dtype=np.uint8)
    index = lookup[codes]
    report: dict = {"nonce": nonce.decode(), "positions": 0, "error": None}
    if np.any(index == 255):
        report["error"] = "the text holds a character outside the alphabet"
        return report
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: no other process may read this one's memory
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: the predictor's orphans come back here
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child becomes a fresh interpreter at once
        try:
            os.close(to_child_w)
            os.close(from_child_r)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(2, 1)  # whatever the predictor prints goes to stderr, never to the report
            os.set_inheritable(to_child_r, True)
            os.set_inheritable(from_child_w, True)
            set_cpu_limit(limit_s)
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # stopped at the limit: no core dump
            drop_capabilities()
            os.execv(
                sys.executable,
                [
                    sys.executable,
                    "-I",
                    os.path.abspath(__file__),
                    "child",
                    model_path,
                    str(to_child_r),
                    str(from_child_w),
                ],
            )
        finally:
            os._exit(127)
    os.close(to_child_r)
    os.close(from_child_w)
    deadline = start + WALL_FACTOR * limit_s + 10
    logp = np.empty(len(index))
    message = bytes([START])
    try:
        for i, c in enumerate(index):
            os.write(to_child_w, message)
            row = np.frombuffer(_read_exactly(from_child_r, 8 * V, deadline), dtype="<f8")
            total = math.fsum(row)
            if not (np.all(np.isfinite(row)) and row.min() > 0 and abs(total - 1.0) <= TOLERANCE):
                report["error"] = (
                    f"position {i}: the distribution is not positive, finite and summing to 1 "
                    f"(sum {total!r}, min {row.min()!r})"
                )
                break
            logp[i] = math.log2(row[c])
            message = bytes([int(c)])
        else:
            report["positions"] = len(index)
    except TimeoutError:
        report["error"] = f"the predictor ran past the wall-clock limit of {WALL_FACTOR * limit_s + 10:.0f} s"
    except EOFError:
        report["error"] = "the predictor exited (crashed, or was stopped at the CPU limit: see stderr)"
    except BrokenPipeError:
        report["error"] = "the predictor exited (crashed, or was stopped at the CPU limit: see stderr)"
    os.close(to_child_w)
    os.close(from_child_r)
    for _ in range(200):  # 2 s to exit once its input is closed, then it is killed
        if os.waitpid(pid, os.WNOHANG)[0]:
            break
        time.sleep(0.01)
    _kill_descendants()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    report["cpu_s"] = usage.ru_utime + usage.ru_stime
    report["wall_s"] = time.monotonic() - start
    if report["error"] is None:
        data = logp.astype("<f8").tobytes()
        with open("scores.f64", "wb") as f:
            f.write(data)
        report["sha256"] = hashlib.sha256(data).hexdigest()
        report["bpc"] = -float(logp.sum()) / len(index)
    return report


def cmd_score(model_path: str, input_path: str, limit_s: float) -> None:
    report = score(model_path, input_path, limit_s)
    sys.stdout.write(json.dumps(report) + "\n")


def cmd_eval(model_path: str, text_path: str, limit_s: float) -> None:
    with open(text_path, "rb") as f:
        body = f.read()
    nonce = secrets.token_hex(8)
    fd, path = tempfile.mkstemp(dir=HERE, prefix=".eval-")
    with os.fdopen(fd, "wb") as f:
        f.write(nonce.encode() + b"\n" + body)
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "score", model_path, path, str(limit_s)],
        check=False, capture_output=True, text=True, cwd=HERE,
    )  # fmt: skip
    sys.stderr.write(out.stderr)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    if report["error"]:
        raise SystemExit(f"scoring failed: {report['error']}")
    print(f"{report['bpc']:.4f} bits per character over {report['positions']} characters "
          f"({report['cpu_s']:.1f} s CPU)")  # fmt: skip


def cmd_sample(model_path: str, n: int) -> None:
    train = import_submission()
    with open(model_path, "rb") as f:
        predictor = train.Predictor(f.read())
    rng = np.random.default_rng()
    out = []
    for _ in range(n):
        p = np.asarray(predictor.probs(), dtype=np.float64)
        c = int(rng.choice(V, p=p / p.sum()))
        out.append(ALPHABET[c])
        predictor.observe(c)
    print("".join(out))


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["train"] and len(args) == 3:
        cmd_train(float(args[1]), args[2])
    elif args[:1] == ["child"] and len(args) == 4:
        cmd_child(args[1], int(args[2]), int(args[3]))
    elif args[:1] == ["score"] and len(args) == 4:
        cmd_score(args[1], args[2], float(args[3]))
    elif args[:1] == ["eval"] and len(args) in (3, 4):
        cmd_eval(args[1], args[2], float(args[3]) if len(args) == 4 else 60.0)
    elif args[:1] == ["sample"] and len(args) == 3:
        cmd_sample(args[1], int(args[2]))
    else:
        raise SystemExit(__doc__)
