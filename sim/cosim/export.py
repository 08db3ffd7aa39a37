"""Write an Amaranth component's Verilog into a build directory outside the source tree, named by
a hash of the Verilog text so that every simulator build made from it can be reused while the
design does not change; optionally move memory initialisation into ``$readmemh`` files, which
Icarus compiles ~20x faster. See ``sim/cosim/README.md``.
"""

__all__ = ["ExportedVerilog", "export_verilog", "with_memory_files"]

import hashlib
import os
import pathlib
import re
import tempfile
from dataclasses import dataclass

from amaranth.back import verilog

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Characters of the SHA-256 digest kept in directory names: collisions among the handful of
# designs in one build directory are not a concern at 64 bits.
_DIGEST_CHARS = 16


@dataclass(frozen=True)
class ExportedVerilog:
    """One Verilog file written by `export_verilog`.

    Attributes
    ----------
    path : pathlib.Path
        The ``.v`` file, ``<build_dir>/verilog/<toplevel>-<digest>/<toplevel>.v``.
    toplevel : str
        The name of the top module.
    digest : str
        The first 16 hex digits of the SHA-256 of the Verilog text; simulator builds are cached by it.
    memory_files : bool
        True for the `with_memory_files` variant (same digest, different file).
    """

    path: pathlib.Path
    toplevel: str
    digest: str
    memory_files: bool = False

    @property
    def text(self):
        """The Verilog source, read back from `path`."""
        return self.path.read_text()


def _check_outside_source_tree(build_dir):
    # Build products never go into the checkout: the source tree is the folder holding the
    # installed ``sevlab`` packages (rtl/, sim/, ...), i.e. the parent of this package's parent.
    source_tree = pathlib.Path(__file__).resolve().parents[2]
    build_dir = build_dir.resolve()
    if build_dir == source_tree or source_tree in build_dir.parents:
        raise ValueError(
            f"build directory must be outside the source tree {str(source_tree)!r}, "
            f"not {str(build_dir)!r}; use pytest's tmp_path or a temporary directory"
        )


def export_verilog(component, *, name, build_dir):
    """Convert ``component`` to Verilog and write it below ``build_dir``.

    The file is written once per distinct Verilog text: a second export of the same design finds the
    file already there and returns it unchanged (same path, same modification time), so simulator
    builds keyed by `ExportedVerilog.digest` stay valid.

    Parameters
    ----------
    component : amaranth.lib.wiring.Component
        The design; its ports keep Amaranth's names (``i__valid``, ``i__payload``, ``clk``, ``rst``).
    name : str
        The Verilog top module name (a Verilog identifier).
    build_dir : path-like
        The directory to write into; created if missing. Must not lie inside the source tree.

    Returns
    -------
    ExportedVerilog

    Raises
    ------
    ValueError
        If ``name`` is not a Verilog identifier or ``build_dir`` lies inside the source tree.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"Verilog top module name must be an identifier, not {name!r}")
    build_dir = pathlib.Path(build_dir)
    _check_outside_source_tree(build_dir)

    text = verilog.convert(component, name=name)
    digest = hashlib.sha256(text.encode()).hexdigest()[:_DIGEST_CHARS]
    directory = build_dir / "verilog" / f"{name}-{digest}"
    path = directory / f"{name}.v"
    if not path.is_file():
        directory.mkdir(parents=True, exist_ok=True)
        # Written under a temporary name and renamed, so a parallel test worker never reads half a file.
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}-", suffix=".v")
        with os.fdopen(fd, "w") as file:
            file.write(text)
        os.replace(temporary, path)
    return ExportedVerilog(path=path, toplevel=name, digest=digest)


# Yosys writes a memory's initial contents as one assignment per word:
#   initial begin
#     sbox_data_1_0[0] = 8'h63;
#     ...
#   end
# Icarus elaborates those blocks very slowly (the pipelined AES-128's 80 S-box ROMs, 41k words:
# 60 s to compile, 2.6 s with $readmemh). Only blocks made purely of such lines for one memory
# declared as `reg [W-1:0] name [N-1:0]` are rewritten; anything else is left exactly as written.
_MEMORY = re.compile(r"^  reg \[(\d+):0\] ([A-Za-z_][A-Za-z0-9_$]*) \[(\d+):0\];$")
_WORD = re.compile(r"^    ([A-Za-z_][A-Za-z0-9_$]*)\[(\d+)\] = (\d+)'h([0-9a-f]+);$")


def _memory_blocks(lines):
    """Yield ``(first line, last line, memory name, depth, [(address, hex)])`` of rewritable blocks."""
    memories = {}
    for line in lines:
        match = _MEMORY.match(line)
        if match:
            memories[match.group(2)] = (int(match.group(1)) + 1, int(match.group(3)) + 1)
    index = 0
    while index < len(lines):
        if lines[index] != "  initial begin":
            index += 1
            continue
        end = index + 1
        name, words = None, []
        while end < len(lines) and lines[end] != "  end":
            match = _WORD.match(lines[end])
            if (match is None or (name is not None and match.group(1) != name)
                    or match.group(1) not in memories):
                break
            name = match.group(1)
            width, depth = memories[name]
            address = int(match.group(2))
            if int(match.group(3)) != width or address >= depth:
                break
            words.append((address, match.group(4)))
            end += 1
        else:
            if words:
                yield index, end, name, memories[name][1], words
            index = end + 1
            continue
        index = end


def with_memory_files(exported):
    """Return a variant of ``exported`` whose memory initialisation is read with ``$readmemh``.

    Each ``initial`` block that only assigns constant words to one memory becomes
    ``initial $readmemh("<file>", <memory>, 0, <depth - 1>);`` with the words, in the same order,
    in a ``.hex`` file beside the new Verilog file. The contents at time 0 are the same; the
    simulator only reads them differently. Other lines are kept byte for byte.

    Parameters
    ----------
    exported : ExportedVerilog
        As returned by `export_verilog`.

    Returns
    -------
    ExportedVerilog
        ``<toplevel>.memfiles.v`` in a ``memfiles`` folder next to the original, with the same
        digest and ``memory_files=True``; the original itself if it has no memory to rewrite.
    """
    if exported.memory_files:
        return exported
    directory = exported.path.parent / "memfiles"
    path = directory / f"{exported.toplevel}.memfiles.v"
    result = ExportedVerilog(path=path, toplevel=exported.toplevel, digest=exported.digest,
                             memory_files=True)
    if path.is_file():
        return result
    lines = exported.text.split("\n")
    blocks = list(_memory_blocks(lines))
    if not blocks:
        return exported
    directory.mkdir(parents=True, exist_ok=True)
    output = []
    position = 0
    for number, (first, last, name, depth, words) in enumerate(blocks):
        output += lines[position:first]
        # Numbered: two modules of the hierarchy may each have a memory of the same name.
        memory_file = directory / f"{number}_{name}.hex"
        memory_file.write_text("".join(f"@{address:x} {value}\n" for address, value in words))
        output.append(f'  initial $readmemh("{memory_file}", {name}, 0, {depth - 1});')
        position = last + 1
    output += lines[position:]
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{exported.toplevel}-", suffix=".v")
    with os.fdopen(fd, "w") as file:
        file.write("\n".join(output))
    os.replace(temporary, path)
    return result
