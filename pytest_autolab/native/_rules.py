"""What the objects built from a submission's sources may contain, and the checks that say so.

Every check reads ELF bytes parsed in the pytest process (``_elf``); only the disassembly for raw
system-call instructions asks a tool in the sandbox (``objdump``) and parses its text.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Iterable

from ._elf import PF_W, PF_X, PT_GNU_STACK, PT_LOAD, SHT_FINI_ARRAY, SHT_INIT_ARRAY, SHT_PREINIT_ARRAY, Elf

__all__ = [
    "CLIENT_REQUEST",
    "CXX_RUNTIME_CALLS",
    "MATH_CALLS",
    "MEMORY_CALLS",
    "Rules",
    "check_object",
    "check_program",
    "client_request_offsets",
    "raw_syscalls",
]

#: Memory allocation and the mem* functions (and the fortified forms GCC may emit).
MEMORY_CALLS = frozenset(
    [
        "malloc",
        "calloc",
        "realloc",
        "free",
        "aligned_alloc",
        "posix_memalign",
        "memalign",
        "memcpy",
        "memmove",
        "memset",
        "memcmp",
        "abort",
        "__stack_chk_fail",
        "__memcpy_chk",
        "__memmove_chk",
        "__memset_chk",
        "_GLOBAL_OFFSET_TABLE_",
    ]
)
#: <math.h> functions, and their libmvec vector forms (``_ZGV...``), which GCC may call.
MATH_CALLS = frozenset(
    [
        "exp",
        "expf",
        "exp2",
        "exp2f",
        "expm1",
        "expm1f",
        "log",
        "logf",
        "log2",
        "log2f",
        "log1p",
        "log1pf",
        "sqrt",
        "sqrtf",
        "fabs",
        "fabsf",
        "fmax",
        "fmaxf",
        "fmin",
        "fminf",
        "fma",
        "fmaf",
        "floor",
        "floorf",
        "ceil",
        "ceilf",
        "round",
        "roundf",
        "rint",
        "rintf",
        "trunc",
        "truncf",
        "nearbyint",
        "nearbyintf",
        "lrint",
        "lrintf",
        "lround",
        "lroundf",
        "ldexp",
        "ldexpf",
        "frexp",
        "frexpf",
        "pow",
        "powf",
        "sin",
        "sinf",
        "cos",
        "cosf",
        "tan",
        "tanf",
        "atan",
        "atanf",
        "atan2",
        "atan2f",
        "tanh",
        "tanhf",
        "erf",
        "erff",
        "hypot",
        "hypotf",
        "cbrt",
        "cbrtf",
        "_ZGV*_exp",
        "_ZGV*_expf",
        "_ZGV*_exp2",
        "_ZGV*_exp2f",
        "_ZGV*_log",
        "_ZGV*_logf",
        "_ZGV*_log2",
        "_ZGV*_log2f",
        "_ZGV*_pow",
        "_ZGV*_powf",
        "_ZGV*_sin",
        "_ZGV*_sinf",
        "_ZGV*_cos",
        "_ZGV*_cosf",
    ]
)
#: What g++ emits for new/delete, exceptions and the standard containers' error paths.
CXX_RUNTIME_CALLS = frozenset(
    [
        "_Znwm",
        "_Znam",
        "_ZdlPv",
        "_ZdlPvm",
        "_ZdaPv",
        "_ZdaPvm",
        "_ZnwmSt11align_val_t",
        "_ZdlPvSt11align_val_t",
        "_ZdlPvmSt11align_val_t",
        "_ZnamSt11align_val_t",
        "_ZdaPvSt11align_val_t",
        "_ZdaPvmSt11align_val_t",
        "_ZSt17__throw_bad_allocv",
        "_ZSt20__throw_length_errorPKc",
        "_ZSt24__throw_out_of_range_fmtPKcz",
        "_ZSt19__throw_logic_errorPKc",
        "_ZSt20__throw_out_of_rangePKc",
        "_ZSt28__throw_bad_array_new_lengthv",
        "__cxa_begin_catch",
        "__cxa_end_catch",
        "__cxa_rethrow",
        "__cxa_allocate_exception",
        "__cxa_free_exception",
        "__cxa_throw",
        "_Unwind_Resume",
        "__gxx_personality_v0",
        "__dso_handle",
    ]
)

#: The preamble of every Valgrind client request on amd64 (``rol $3,%rdi; rol $13,%rdi;
#: rol $61,%rdi; rol $51,%rdi``): a request can switch counting off or run code uncounted.
CLIENT_REQUEST = bytes.fromhex("48c1c70348c1c70d48c1c73d48c1c733")

#: Sections whose code runs outside the exported functions (before main, at exit).
STARTUP_SECTIONS = re.compile(r"^\.(pre)?init_array|^\.fini_array|^\.ctors|^\.dtors|^\.init$|^\.fini$")
#: System-call instructions in objdump's AT&T disassembly.
SYSCALL_INSTRUCTION = re.compile(r"\t(syscall|sysenter|int\s+\$0x80)\b")


@dataclasses.dataclass(frozen=True)
class Rules:
    """What the objects built from the editable sources may define, call and contain.

    Names in ``exports`` and ``allowed_calls`` are exact symbol names or shell patterns
    (``fnmatch``: ``_ZGV*_expf``); an export also matches by its demangled C++ name
    (``static_search::lower_bound(*``).
    """

    #: Objects built from the editable sources (paths in the app dir): every one is inspected.
    objects: tuple[str, ...] = ()
    #: The only symbols those objects may define with a non-local binding (GLOBAL only: no
    #: WEAK, no GNU_UNIQUE, no IFUNC).
    exports: tuple[str, ...] = ()
    #: Undefined symbols the objects may use; None allows any (say why in the task).
    allowed_calls: frozenset[str] | None = MEMORY_CALLS | MATH_CALLS
    #: Objects built from read-only sources (the harness): nothing the submission defines may
    #: share a name with what they define or use (interposition, e.g. a C++ inline instance).
    harness_objects: tuple[str, ...] = ()
    #: C++: allow WEAK definitions in COMDAT groups (template and inline instances), as long
    #: as the harness neither defines nor uses them and the program does not export them.
    template_instances: bool = False


def matches(name: str, patterns: Iterable[str], demangled: str | None = None) -> bool:
    for pattern in patterns:
        if fnmatch.fnmatchcase(name, pattern) or (demangled and fnmatch.fnmatchcase(demangled, pattern)):
            return True
    return False


def client_request_offsets(data: bytes) -> list[int]:
    """Every offset of the client-request preamble in ``data`` (at any alignment)."""
    found, start = [], 0
    while (at := data.find(CLIENT_REQUEST, start)) >= 0:
        found.append(at)
        start = at + 1
    return found


def raw_syscalls(disassembly: str) -> list[str]:
    """The system-call instructions in ``objdump -d`` output, as "function: instruction"."""
    found, function = [], "?"
    for line in disassembly.splitlines():
        head = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if head:
            function = head.group(1)
        elif m := SYSCALL_INSTRUCTION.search(line):
            found.append(f"{function}: {' '.join(m.group(1).split())}")
    return found


def check_object(
    elf: Elf,
    rules: Rules,
    *,
    demangled: dict[str, str] | None = None,
    harness_names: frozenset[str] = frozenset(),
) -> list[str]:
    """Everything in one object of the submission that breaks ``rules``, as sentences."""
    demangled = demangled or {}
    problems: list[str] = []
    groups = elf.group_members() if rules.template_instances else set()
    for sec in elf.sections:
        if STARTUP_SECTIONS.search(sec.name) or sec.type in (
            SHT_INIT_ARRAY,
            SHT_FINI_ARRAY,
            SHT_PREINIT_ARRAY,
        ):
            problems.append(f"has a {sec.name} section (code that runs before main or at exit)")
        elif sec.executable and sec.writable:
            problems.append(f"has a section {sec.name} that is both writable and executable")
        elif sec.name == ".note.GNU-stack" and sec.executable:
            problems.append("asks for an executable stack (.note.GNU-stack)")
    calls: set[str] = set()
    for sym in elf.symbols():
        if not sym.name or (sym.binding == "LOCAL" and sym.type != "IFUNC"):
            continue
        nice = demangled.get(sym.name)
        shown = f"{sym.name} ({nice})" if nice and nice != sym.name else sym.name
        if sym.type == "IFUNC":
            problems.append(f"defines the indirect function {shown} (its resolver runs before main)")
        elif not sym.defined:
            if rules.allowed_calls is not None and not matches(sym.name, rules.allowed_calls):
                calls.add(shown)
        elif matches(sym.name, rules.exports, nice):
            if sym.binding != "GLOBAL":
                problems.append(
                    f"{shown} has binding {sym.binding} (an export must be an ordinary GLOBAL definition)"
                )
        elif rules.template_instances and sym.binding == "WEAK" and sym.shndx in groups:
            if sym.name in harness_names:
                problems.append(
                    f"defines {shown}, which the harness also defines or uses (it could replace the harness's own)"
                )
        else:
            kind = {"WEAK": "weak ", "UNIQUE": "GNU-unique "}.get(sym.binding, "global ")
            problems.append(f"defines the {kind}symbol {shown} (make it static)")
    problems += [f"calls {name}()" for name in sorted(calls)]
    if client_request_offsets(elf.data):
        problems.append("contains a Valgrind client request")
    return problems


def check_program(elf: Elf, submission_names: frozenset[str], exports: Iterable[str]) -> list[str]:
    """What is wrong with the linked program: writable code, an executable stack, a client request
    anywhere in the file, or a symbol of the submission exported to the dynamic linker (where it
    would replace the libraries' own, for the harness too)."""
    problems = []
    stack = [seg for seg in elf.segments if seg.type == PT_GNU_STACK]
    if not stack or stack[0].flags & PF_X:
        problems.append("the program has an executable stack")
    for seg in elf.segments:
        if seg.type == PT_LOAD and seg.flags & PF_W and seg.flags & PF_X:
            problems.append(f"the program has a writable and executable segment ({seg.describe_flags()})")
    if client_request_offsets(elf.data):
        problems.append("the program contains a Valgrind client request")
    exports = tuple(exports)
    for sym in elf.symbols(dynamic=True):
        if sym.defined and sym.name in submission_names and not matches(sym.name, exports):
            problems.append(
                f"the program exports {sym.name} to the dynamic linker (it would replace the libraries' own)"
            )
    return problems
