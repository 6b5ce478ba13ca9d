"""The stack machine of stack_machine_golf: assembler, interpreter and a local check.

This file is read-only. The verifier runs its own pristine copy of it, so what you run here is
exactly what scores you:

    python3 stackvm.py poly.asm            # correctness on random inputs + the metric
    python3 stackvm.py poly.asm --trace    # every step of a small run

The machine (instruction.md has the full specification): a read-only memory holding the input,
a stack of at most 256 signed 64-bit integers (arithmetic wraps modulo 2**64), a program of at
most 256 instructions, and an output. Every executed instruction costs one step.
"""

from __future__ import annotations

import dataclasses
import random
import re
import sys
from pathlib import Path

MAX_INSTRUCTIONS = 256
MAX_SOURCE_BYTES = 64 * 1024
MAX_STACK = 256
#: Steps one run may take before it is stopped (the naive program needs about 3,000 per point).
STEP_LIMIT = 1_000_000

INT_MIN, INT_MAX = -(2**63), 2**63 - 1

# Opcodes, numbered for the interpreter's dispatch.
# fmt: off
(PUSH, DUP, DROP, SWAP, OVER, ROT, PICK, LOAD, ADD, SUB, MUL, ADDI, SUBI, MULI,
 JMP, JZ, JNZ, JNEG, OUT, HALT) = range(20)
# fmt: on

#: name -> (opcode without immediate, opcode with immediate, kind of argument)
#: kinds: "" none, "int" a signed 64-bit integer, "depth" 0..MAX_STACK-1, "label" a label.
OPCODES: dict[str, tuple[int | None, int | None, str]] = {
    "PUSH": (None, PUSH, "int"),
    "DUP": (DUP, None, ""),
    "DROP": (DROP, None, ""),
    "SWAP": (SWAP, None, ""),
    "OVER": (OVER, None, ""),
    "ROT": (ROT, None, ""),
    "PICK": (None, PICK, "depth"),
    "LOAD": (LOAD, LOAD, "int"),
    "ADD": (ADD, ADDI, "int"),
    "SUB": (SUB, SUBI, "int"),
    "MUL": (MUL, MULI, "int"),
    "JMP": (None, JMP, "label"),
    "JZ": (None, JZ, "label"),
    "JNZ": (None, JNZ, "label"),
    "JNEG": (None, JNEG, "label"),
    "OUT": (OUT, None, ""),
    "HALT": (HALT, None, ""),
}
NAMES = {}
for _name, (_plain, _imm, _kind) in OPCODES.items():
    for _code in (_plain, _imm):
        if _code is not None:
            NAMES[_code] = _name

LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
INTEGER = re.compile(r"[+-]?[0-9]+")


class AssemblyError(ValueError):
    """The program text is not a valid program; the message names the line."""


class MachineError(RuntimeError):
    """The program did something the machine does not allow (the run fails)."""


@dataclasses.dataclass(frozen=True)
class Program:
    """An assembled program: (opcode, argument) pairs; jump arguments are instruction indices."""

    code: list[tuple[int, int]]
    #: The source line of each instruction, for messages.
    lines: list[int]


def assemble(source: str) -> Program:
    """Parse program text; raises AssemblyError naming the line of the first problem."""
    if len(source.encode("utf-8")) > MAX_SOURCE_BYTES:
        raise AssemblyError(f"the program text has more than {MAX_SOURCE_BYTES} bytes")
    labels: dict[str, int] = {}
    pending: list[tuple[int, str, str | None]] = []  # (line number, opcode name, argument)
    for number, raw in enumerate(source.splitlines(), start=1):
        text = re.split(r"[;#]", raw, maxsplit=1)[0].strip()
        while text:
            head, sep, rest = text.partition(":")
            if not sep or not LABEL.fullmatch(head.strip()):
                break
            name = head.strip()
            if name in labels:
                raise AssemblyError(f"line {number}: label {name!r} is defined twice")
            labels[name] = len(pending)
            text = rest.strip()
        if not text:
            continue
        fields = text.split()
        if len(fields) > 2:
            raise AssemblyError(f"line {number}: expected 'OPCODE [argument]', got {text!r}")
        pending.append((number, fields[0].upper(), fields[1] if len(fields) == 2 else None))
        if len(pending) > MAX_INSTRUCTIONS:
            raise AssemblyError(f"line {number}: more than {MAX_INSTRUCTIONS} instructions")
    code: list[tuple[int, int]] = []
    for number, name, arg in pending:
        if name not in OPCODES:
            raise AssemblyError(f"line {number}: unknown opcode {name!r} (known: {', '.join(OPCODES)})")
        plain, with_arg, kind = OPCODES[name]
        if arg is None:
            if plain is None:
                raise AssemblyError(f"line {number}: {name} needs an argument")
            code.append((plain, 0))
            continue
        if with_arg is None:
            raise AssemblyError(f"line {number}: {name} takes no argument")
        if kind == "label":
            if arg not in labels:
                raise AssemblyError(f"line {number}: unknown label {arg!r}")
            code.append((with_arg, labels[arg]))
            continue
        if not INTEGER.fullmatch(arg):
            raise AssemblyError(f"line {number}: {name} needs an integer argument, got {arg!r}")
        value = int(arg)
        low, high = (0, MAX_STACK - 1) if kind == "depth" else (INT_MIN, INT_MAX)
        if not low <= value <= high:
            raise AssemblyError(f"line {number}: {name} argument {value} is outside [{low}, {high}]")
        code.append((with_arg, value))
    if not code:
        raise AssemblyError("the program has no instructions")
    return Program(code, [number for number, _, _ in pending])


def wrap(value: int) -> int:
    """value modulo 2**64, as a signed 64-bit integer."""
    return ((value + 2**63) & (2**64 - 1)) - 2**63


@dataclasses.dataclass(frozen=True)
class Run:
    """What one run produced."""

    output: list[int]
    steps: int


def run(program: Program, memory: list[int], *, step_limit: int = STEP_LIMIT, trace=None) -> Run:
    """Execute from instruction 0 with an empty stack until HALT; raises MachineError on any
    fault (stack underflow or overflow, a read outside memory, running past the last
    instruction, the step limit)."""
    code = program.code
    size = len(code)
    mem = list(memory)
    limit = len(mem)
    stack: list[int] = []
    push = stack.append
    pop = stack.pop
    out: list[int] = []
    pc = 0
    steps = 0

    def fault(message: str) -> MachineError:
        line = program.lines[pc] if pc < size else program.lines[-1]
        return MachineError(
            f"step {steps}, instruction {pc} (line {line}, {NAMES[code[pc][0]] if pc < size else 'end'}): {message}"
        )

    try:
        while True:
            if pc >= size:
                raise MachineError(f"step {steps}: ran past the last instruction without HALT")
            if steps >= step_limit:
                raise MachineError(f"stopped after {step_limit} steps (the step limit)")
            op, arg = code[pc]
            if trace is not None:
                trace(steps, pc, op, arg, stack)
            steps += 1
            pc += 1
            if op == PICK:
                if arg >= len(stack):
                    pc -= 1
                    raise fault(f"PICK {arg} with {len(stack)} item(s) on the stack")
                push(stack[-1 - arg])
            elif op == MUL:
                b = pop()
                stack[-1] = wrap(stack[-1] * b)
            elif op == ADD:
                b = pop()
                stack[-1] = wrap(stack[-1] + b)
            elif op == LOAD:
                address = stack[-1] + arg
                if not 0 <= address < limit:
                    pc -= 1
                    raise fault(f"LOAD from address {address}: memory has addresses 0 to {limit - 1}")
                stack[-1] = mem[address]
            elif op == JNZ:
                if pop() != 0:
                    pc = arg
            elif op == JZ:
                if pop() == 0:
                    pc = arg
            elif op == JNEG:
                if pop() < 0:
                    pc = arg
            elif op == JMP:
                pc = arg
            elif op == ADDI:
                stack[-1] = wrap(stack[-1] + arg)
            elif op == SUBI:
                stack[-1] = wrap(stack[-1] - arg)
            elif op == MULI:
                stack[-1] = wrap(stack[-1] * arg)
            elif op == PUSH:
                push(arg)
            elif op == DUP:
                push(stack[-1])
            elif op == OVER:
                push(stack[-2])
            elif op == SWAP:
                stack[-1], stack[-2] = stack[-2], stack[-1]
            elif op == ROT:
                push(stack.pop(-3))
            elif op == DROP:
                pop()
            elif op == SUB:
                b = pop()
                stack[-1] = wrap(stack[-1] - b)
            elif op == OUT:
                out.append(pop())
            elif op == HALT:
                return Run(out, steps)
            if len(stack) > MAX_STACK:
                pc -= 1
                raise fault(f"stack overflow (more than {MAX_STACK} items)")
    except IndexError:
        pc -= 1
        raise fault("stack underflow") from None


# --- the function to compute -----------------------------------------------------------------


def layout(coefficients: list[int], points: list[int]) -> list[int]:
    """The memory of one run: [d, c_0, ..., c_d, m, x_0, ..., x_{m-1}]."""
    return [len(coefficients) - 1, *coefficients, len(points), *points]


def expected(coefficients: list[int], points: list[int]) -> list[int]:
    """p(x) = c_0 + c_1 x + ... + c_d x^d at each point, modulo 2**64 (signed)."""
    results = []
    for x in points:
        acc = 0
        for c in reversed(coefficients):
            acc = wrap(acc * x + c)
        results.append(acc)
    return results


#: The measured cases: (degree, number of points). The values come from the seed.
BENCHMARK = ((0, 4), (1, 6), (3, 8), (6, 10), (10, 12), (15, 16), (21, 20), (28, 24))
COEFFICIENT_RANGE = 10**6
POINT_RANGE = 1000


def benchmark_inputs(seed: int) -> list[tuple[list[int], list[int]]]:
    """The measured inputs for a seed: fixed shapes, random values."""
    rng = random.Random(f"stack_machine_golf/{seed}")
    cases = []
    for degree, count in BENCHMARK:
        coefficients = [rng.randint(-COEFFICIENT_RANGE, COEFFICIENT_RANGE) for _ in range(degree + 1)]
        points = [rng.randint(-POINT_RANGE, POINT_RANGE) for _ in range(count)]
        cases.append((coefficients, points))
    return cases


def describe(coefficients: list[int], points: list[int]) -> str:
    if len(coefficients) + len(points) <= 40:
        return f"c = {coefficients}, x = {points}"
    return f"degree {len(coefficients) - 1}, {len(points)} points"


def check(program: Program, coefficients: list[int], points: list[int]) -> Run:
    """Run one input and compare the output; raises MachineError (a fault) or AssertionError
    (a wrong output), with the input in the message."""
    try:
        result = run(program, layout(coefficients, points))
    except MachineError as exc:
        raise MachineError(f"the program faults on {describe(coefficients, points)}: {exc}") from None
    want = expected(coefficients, points)
    if result.output != want:
        raise AssertionError(
            f"wrong output for {describe(coefficients, points)}:\n  got      {result.output}\n  expected {want}"
        )
    return result


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python3 stackvm.py PROGRAM [--trace] [--seed N]")
        return 2
    program = assemble(Path(argv[1]).read_text())
    seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 0
    if "--trace" in argv:

        def show(step, pc, op, arg, stack):
            name = NAMES[op] + (
                "" if op in (DUP, DROP, SWAP, OVER, ROT, ADD, SUB, MUL, OUT, HALT) else f" {arg}"
            )
            print(f"{step:5d}  {pc:3d}  {name:12s}  {stack[-8:]}")

        result = run(program, layout([3, -2, 5], [2, -1]), trace=show)
        print(f"output {result.output}, expected {expected([3, -2, 5], [2, -1])}, {result.steps} steps")
        return 0
    rng = random.Random(seed)
    for trial in range(300):
        degree, count = rng.randint(0, 40), rng.randint(0, 10)
        big = trial % 3 == 0
        value = (lambda: rng.randint(INT_MIN, INT_MAX)) if big else (lambda: rng.randint(-50, 50))
        check(program, [value() for _ in range(degree + 1)], [value() for _ in range(count)])
    print("300 random inputs: correct")
    total = 0
    for (degree, count), (coefficients, points) in zip(BENCHMARK, benchmark_inputs(seed), strict=True):
        steps = check(program, coefficients, points).steps
        total += steps
        print(f"degree {degree:2d}, {count:2d} points: {steps:7d} steps")
    print(f"instructions: {len(program.code)}; steps (the metric): {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
