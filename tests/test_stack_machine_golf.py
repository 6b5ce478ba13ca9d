"""The trusted parts of stack_machine_golf: the assembler and the interpreter of the stack machine.

They live in tasks/stack_machine_golf/environment/stackvm.py (the verifier loads that file from
the task folder); these tests load it the same way.
"""

from __future__ import annotations

from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .conftest import REPO, load_module

TASK = REPO / "tasks" / "stack_machine_golf"


def _load() -> ModuleType:
    name = "autolab_stack_machine_golf_vm"
    return load_module(TASK / "environment" / "stackvm.py", name)


vm = _load()


def run(source: str, memory: list[int] | None = None, **kwargs: int) -> tuple[list[int], int]:
    result = vm.run(vm.assemble(source), memory or [0], **kwargs)
    return result.output, result.steps


def top(source: str, memory: list[int] | None = None) -> int:
    """What is on top of the stack at the end: the program, then OUT and HALT."""
    output, _ = run(source + "\nOUT\nHALT", memory)
    return output[-1]


# --- every opcode ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("PUSH -7", -7),
        ("PUSH 3\nDUP\nADD", 6),
        ("PUSH 3\nPUSH 4\nDROP", 3),
        ("PUSH 3\nPUSH 4\nSWAP", 3),
        ("PUSH 3\nPUSH 4\nOVER", 3),
        ("PUSH 1\nPUSH 2\nPUSH 3\nROT", 1),  # ( a b c -- b c a )
        ("PUSH 1\nPUSH 2\nPUSH 3\nPICK 2", 1),
        ("PUSH 1\nPUSH 2\nPICK 0", 2),
        ("PUSH 10\nPUSH 4\nSUB", 6),
        ("PUSH 10\nPUSH 4\nMUL", 40),
        ("PUSH 10\nADD -3", 7),
        ("PUSH 10\nSUB 3", 7),
        ("PUSH 10\nMUL -3", -30),
        ("PUSH 2\nLOAD", 30),
        ("PUSH 0\nLOAD 3", 40),
        ("PUSH 3\nLOAD -2", 20),
    ],
)
def test_each_instruction_does_what_the_table_says(source: str, expected: int) -> None:
    assert top(source, [10, 20, 30, 40]) == expected


def test_rot_moves_the_third_item_to_the_top() -> None:
    output, _ = run("PUSH 1\nPUSH 2\nPUSH 3\nROT\nOUT\nOUT\nOUT\nHALT")
    assert output == [1, 3, 2]


@pytest.mark.parametrize(
    ("jump", "value", "taken"),
    [
        ("JZ", 0, True),
        ("JZ", 5, False),
        ("JNZ", -1, True),
        ("JNZ", 0, False),
        ("JNEG", -1, True),
        ("JNEG", 0, False),
    ],
)
def test_conditional_jumps_pop_their_condition(jump: str, value: int, taken: bool) -> None:
    source = f"PUSH 99\nPUSH {value}\n{jump} yes\nPUSH 0\nOUT\nOUT\nHALT\nyes: PUSH 1\nOUT\nOUT\nHALT"
    output, _ = run(source)
    assert output == ([1, 99] if taken else [0, 99])


def test_every_executed_instruction_is_one_step_halt_and_jumps_included() -> None:
    # 1 PUSH, then 3 iterations of (SUB, DUP, JNZ), then DROP, HALT
    output, steps = run("PUSH 3\nloop: SUB 1\nDUP\nJNZ loop\nDROP\nHALT")
    assert (output, steps) == ([], 1 + 3 * 3 + 2)
    _, steps = run("JMP end\nPUSH 1\nend: HALT")
    assert steps == 2


@given(a=st.integers(vm.INT_MIN, vm.INT_MAX), b=st.integers(vm.INT_MIN, vm.INT_MAX))
def test_arithmetic_wraps_modulo_2_to_the_64(a: int, b: int) -> None:
    output, _ = run(
        f"PUSH {a}\nPUSH {b}\nADD\nOUT\nPUSH {a}\nPUSH {b}\nSUB\nOUT\nPUSH {a}\nMUL {b}\nOUT\nHALT"
    )
    assert output == [vm.wrap(a + b), vm.wrap(a - b), vm.wrap(a * b)]
    assert all(vm.INT_MIN <= v <= vm.INT_MAX for v in output)


# --- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("ADD\nHALT", "stack underflow"),
        ("PUSH 1\nSWAP\nHALT", "stack underflow"),
        ("PUSH 1\nPUSH 2\nROT\nHALT", "stack underflow"),
        ("OUT\nHALT", "stack underflow"),
        ("JZ x\nx: HALT", "stack underflow"),
        ("PUSH 1\nPICK 1\nHALT", "PICK 1 with 1 item"),
        ("PUSH 4\nLOAD\nHALT", "LOAD from address 4: memory has addresses 0 to 3"),
        ("PUSH 0\nLOAD -1\nHALT", "LOAD from address -1"),
        ("PUSH 1", "ran past the last instruction"),
        ("JMP end\nend:", "ran past the last instruction"),
        ("loop: JMP loop", "step limit"),
        ("loop: PUSH 1\nJMP loop", "stack overflow"),
    ],
)
def test_faults_stop_the_run_with_a_message_naming_the_step(source: str, message: str) -> None:
    with pytest.raises(vm.MachineError, match=message):
        vm.run(vm.assemble(source), [1, 2, 3, 4], step_limit=10_000)


def test_the_default_step_limit_is_a_million() -> None:
    with pytest.raises(vm.MachineError, match="1000000 steps"):
        vm.run(vm.assemble("loop: JMP loop"), [0])


def test_256_items_fit_on_the_stack_and_257_do_not() -> None:
    # pushes n, n-1, ..., 1, 0 and then one more copy of the 0: n + 2 items at the peak
    def fill(n: int) -> int:
        return int(vm.run(vm.assemble(f"PUSH {n}\nloop: DUP\nSUB 1\nDUP\nJNZ loop\nHALT"), [0]).steps)

    assert fill(254) == 1 + 4 * 254 + 1
    with pytest.raises(vm.MachineError, match="stack overflow"):
        fill(255)


# --- the assembler ---------------------------------------------------------------------------


def test_labels_comments_and_case_are_handled() -> None:
    source = """
    ; a comment line
    start:                  # a label alone names the next instruction
      push 2                ; lower case opcodes are fine
    a: b: dup               ; two labels on one instruction
      JNEG start
      HALT
    """
    program = vm.assemble(source)
    assert [op for op, _ in program.code] == [vm.PUSH, vm.DUP, vm.JNEG, vm.HALT]
    assert program.code[2] == (vm.JNEG, 0)
    assert program.lines == [4, 5, 6, 7]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "no instructions"),
        ("STORE 1", "unknown opcode 'STORE'"),
        ("PUSH", "PUSH needs an argument"),
        ("DUP 2", "DUP takes no argument"),
        ("PUSH 1 2", "expected 'OPCODE"),
        ("PUSH 0x10", "needs an integer argument"),
        (f"PUSH {2**63}", "outside"),
        ("PICK 256", "outside"),
        ("PICK -1", "outside"),
        ("JMP nowhere", "unknown label 'nowhere'"),
        ("a: HALT\na: HALT", "defined twice"),
        ("\n".join(["DUP"] * 257), "more than 256 instructions"),
        ("; " + "x" * (64 * 1024), "more than 65536 bytes"),
    ],
)
def test_invalid_programs_are_refused_naming_the_line(source: str, message: str) -> None:
    with pytest.raises(vm.AssemblyError, match=message):
        vm.assemble(source)


# --- the function and the shipped programs ---------------------------------------------------


def test_the_expected_outputs_are_the_polynomial_modulo_2_to_the_64() -> None:
    assert vm.expected([3, -2, 5], [2, -1, 0]) == [3 - 4 + 20, 3 + 2 + 5, 3]
    assert vm.expected([0, 1], [2**63 - 1]) == [2**63 - 1]
    assert vm.expected([1, 0, 1], [2**32]) == [1]  # 2**64 + 1 wraps to 1
    assert vm.layout([7, 8], [9]) == [1, 7, 8, 1, 9]


def test_the_benchmark_has_fixed_shapes_and_values_from_the_seed() -> None:
    first, again, other = vm.benchmark_inputs(0), vm.benchmark_inputs(0), vm.benchmark_inputs(1)
    assert first == again
    assert first != other
    assert [(len(c) - 1, len(x)) for c, x in first] == list(vm.BENCHMARK)
    assert [(len(c) - 1, len(x)) for c, x in other] == list(vm.BENCHMARK)


@pytest.mark.parametrize(("folder", "steps"), [("environment", 233832), ("solution", 11354)])
def test_the_shipped_programs_are_correct_and_take_the_documented_steps(folder: str, steps: int) -> None:
    program = vm.assemble((TASK / folder / "poly.asm").read_text())
    for seed in (0, 1):
        assert sum(vm.check(program, c, x).steps for c, x in vm.benchmark_inputs(seed)) == steps
    vm.check(program, list(range(-24, 25)), [3, -2, 0])
    vm.check(program, [5], [])
