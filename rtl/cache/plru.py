"""Tree pseudo-LRU replacement: the victim choice and the update, as combinational logic.

A set of ``ways`` (a power of two) lines keeps ``ways - 1`` bits, the inner nodes of a binary
tree stored heap-style (node 1 is the root, node n's children are 2n and 2n + 1; bit n - 1 of the
state is node n). A node's bit points to the half that holds the next victim (0: lower ways).
Using a way turns every node on its path to point away from it. ``sim/model/cache.py`` holds the
golden model of the same policy. See ``rtl/cache/README.md``.
"""

from amaranth.hdl import Cat, Const, Mux
from amaranth.utils import exact_log2

__all__ = ["plru_victim", "plru_touch"]


def plru_victim(state, ways):
    """The way the tree points to: a value of ``log2(ways)`` bits."""
    levels = exact_log2(ways)
    if levels == 0:
        return Const(0, 1)
    way = Const(0, levels)
    node = Const(1, levels + 1)
    for _ in range(levels):
        bit = state.bit_select((node - 1).as_unsigned(), 1)
        way = Cat(bit, way)[:levels]
        node = Cat(bit, node)[:levels + 1]
    return way


def plru_touch(state, way, ways):
    """The state after using ``way``: every node on its path points to the other half."""
    levels = exact_log2(ways)
    if levels == 0:
        return state
    bits = [state[n] for n in range(ways - 1)]
    for n in range(1, ways):
        depth = n.bit_length() - 1                # the root is at depth 0
        # Node n is on the path of the ways whose top `depth` bits equal n's path from the root.
        prefix = n - (1 << depth)
        on_path = way[levels - depth:] == prefix if depth else Const(1, 1)
        branch = way[levels - 1 - depth]
        bits[n - 1] = Mux(on_path, ~branch, bits[n - 1])
    return Cat(*bits)

