"""Just enough of ELF64 (little-endian) to judge an object or a program: sections, symbols,
segments. Parsed here, in the trusted pytest process, from the bytes of the file: no tool output
to misread, and every binding (GNU_UNIQUE, WEAK) and symbol type (IFUNC) is seen as it is."""

from __future__ import annotations

import dataclasses
import struct

__all__ = ["Elf", "ElfError", "Section", "Segment", "Symbol"]

# Section flags, symbol bindings and types, segment types and flags (elf.h).
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR, SHF_GROUP = 0x1, 0x2, 0x4, 0x200
SHT_SYMTAB, SHT_DYNSYM, SHT_GROUP, SHT_INIT_ARRAY, SHT_FINI_ARRAY, SHT_PREINIT_ARRAY = 2, 11, 17, 14, 15, 16
BINDINGS = {0: "LOCAL", 1: "GLOBAL", 2: "WEAK", 10: "UNIQUE"}
TYPES = {0: "NOTYPE", 1: "OBJECT", 2: "FUNC", 3: "SECTION", 4: "FILE", 5: "COMMON", 6: "TLS", 10: "IFUNC"}
SHN_UNDEF, SHN_ABS, SHN_COMMON = 0, 0xFFF1, 0xFFF2
PT_LOAD, PT_GNU_STACK = 1, 0x6474E551
PF_X, PF_W, PF_R = 1, 2, 4


class ElfError(ValueError):
    """Not an ELF64 little-endian file, or a malformed one."""


@dataclasses.dataclass(frozen=True)
class Section:
    index: int
    name: str
    type: int
    flags: int
    offset: int
    size: int
    link: int
    info: int

    @property
    def executable(self) -> bool:
        return bool(self.flags & SHF_EXECINSTR)

    @property
    def writable(self) -> bool:
        return bool(self.flags & SHF_WRITE)


@dataclasses.dataclass(frozen=True)
class Symbol:
    name: str
    #: LOCAL | GLOBAL | WEAK | UNIQUE (GNU_UNIQUE) | the number for another binding.
    binding: str
    #: NOTYPE | OBJECT | FUNC | SECTION | FILE | COMMON | TLS | IFUNC | the number.
    type: str
    #: Section index; 0 undefined, 0xfff1 absolute, 0xfff2 common.
    shndx: int
    #: STV_*: 0 default, 1 internal, 2 hidden, 3 protected.
    visibility: int

    @property
    def defined(self) -> bool:
        return self.shndx != SHN_UNDEF

    @property
    def exported(self) -> bool:
        """Visible to other objects at link time: any binding but LOCAL, defined here."""
        return self.defined and self.binding != "LOCAL"


@dataclasses.dataclass(frozen=True)
class Segment:
    type: int
    flags: int
    offset: int
    filesz: int

    def describe_flags(self) -> str:
        return "".join(c if self.flags & f else "-" for c, f in (("R", PF_R), ("W", PF_W), ("X", PF_X)))


class Elf:
    """A parsed ELF64 little-endian file (relocatable, executable or shared object)."""

    def __init__(self, data: bytes, name: str = "file") -> None:
        self.data = data
        self.name = name
        if len(data) < 64 or data[:4] != b"\x7fELF":
            raise ElfError(f"{name} is not an ELF file")
        if data[4] != 2 or data[5] != 1:
            raise ElfError(f"{name} is not a 64-bit little-endian ELF file")
        try:
            self._parse()
        except struct.error as exc:
            raise ElfError(f"{name} is a truncated or malformed ELF file ({exc})") from exc

    def _parse(self) -> None:
        d = self.data
        (self.type,) = struct.unpack_from("<H", d, 16)
        phoff, shoff = struct.unpack_from("<QQ", d, 32)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from("<HHHHH", d, 54)
        raw = []
        for i in range(shnum if shoff else 0):
            name, typ, flags, _addr, off, size, link, info = struct.unpack_from(
                "<IIQQQQII", d, shoff + i * shentsize
            )
            raw.append((i, name, typ, flags, off, size, link, info))
        names = raw[shstrndx] if shstrndx < len(raw) else None
        self.sections = [
            Section(i, self._str(names[4], n) if names else "", t, f, o, s, lk, inf)
            for i, n, t, f, o, s, lk, inf in raw
        ]
        self.segments = []
        for i in range(phnum if phoff else 0):
            typ, flags, off, _va, _pa, filesz = struct.unpack_from("<IIQQQQ", d, phoff + i * phentsize)
            self.segments.append(Segment(typ, flags, off, filesz))

    def _str(self, table_offset: int, index: int) -> str:
        end = self.data.index(b"\0", table_offset + index)
        return self.data[table_offset + index : end].decode("utf-8", "replace")

    def symbols(self, dynamic: bool = False) -> list[Symbol]:
        """The entries of .symtab (or .dynsym), the null entry left out."""
        wanted = SHT_DYNSYM if dynamic else SHT_SYMTAB
        out: list[Symbol] = []
        for sec in self.sections:
            if sec.type != wanted:
                continue
            strtab = self.sections[sec.link]
            for off in range(sec.offset + 24, sec.offset + sec.size, 24):
                name, info, other, shndx = struct.unpack_from("<IBBH", self.data, off)
                out.append(
                    Symbol(
                        name=self._str(strtab.offset, name),
                        binding=BINDINGS.get(info >> 4, str(info >> 4)),
                        type=TYPES.get(info & 0xF, str(info & 0xF)),
                        shndx=shndx,
                        visibility=other & 3,
                    )
                )
        return out

    def section_bytes(self, section: Section) -> bytes:
        if section.type == 8:  # SHT_NOBITS (.bss)
            return b""
        return self.data[section.offset : section.offset + section.size]

    def group_members(self) -> set[int]:
        """Indices of the sections that belong to a COMDAT group (template and inline instances)."""
        members: set[int] = set()
        for sec in self.sections:
            if sec.type == SHT_GROUP:
                words = struct.unpack_from(f"<{sec.size // 4}I", self.data, sec.offset)
                members.update(words[1:])
        return members
