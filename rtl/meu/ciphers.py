"""The unit's three cipher clients, on pipelined or compact AES engines.

See ``rtl/meu/README.md`` ("Cipher clients").
"""

from amaranth.hdl import Signal, Module
from amaranth.lib import wiring, stream, data
from amaranth.lib.fifo import SyncFIFO, SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from ..aes import AESCompact, AESFarm, AESPipelined
from ..aes.layouts import round_key_write_signature

__all__ = ["cipher_signature", "PipelinedCiphers", "CompactCiphers", "CIPHERS"]

CLIENTS = ("tweak", "encrypt", "decrypt")


def cipher_signature(*, key_bits, tag_shape, key_slots=None):
    """One client: a block and its key (or, with ``key_slots``, the slot of the engine's
    round-key tables: ``slot``) in, the transformed block out, the tag carried alongside."""
    key = {"key": key_bits} if key_slots is None else {"slot": range(key_slots)}
    return wiring.Signature({
        "i": In(stream.Signature(data.StructLayout({"block": 128, **key, "tag": tag_shape}))),
        "o": Out(stream.Signature(data.StructLayout({"block": 128, "tag": tag_shape}))),
    })


class _Ciphers(wiring.Component):
    """``tweak`` (AES-encrypt with key2), ``encrypt`` (key1) and ``decrypt`` (key1's decryption
    key, or with ``key_slots`` key1's slot in both: ``round_keys`` then fills the tables)."""

    #: Whether the encrypt and decrypt clients name a slot instead of carrying a key.
    slotted = False

    def __init__(self, *, key_bits, tag_shapes, key_slots=None):
        self._key_bits = key_bits
        self._tag_shapes = tag_shapes
        members = {
            name: Out(cipher_signature(key_bits=key_bits, tag_shape=tag_shapes[name],
                                       key_slots=None if name == "tweak" else key_slots))
            for name in CLIENTS
        }
        if key_slots is not None:
            members["round_keys"] = In(round_key_write_signature(key_bits=key_bits, slots=key_slots))
        super().__init__(members)


class PipelinedCiphers(_Ciphers):
    """Three AES pipelines, one per client: a block a cycle each, latency Nr.

    The encrypt and decrypt pipelines read key1's round keys from tables of ``slots`` entries
    (``AESPipelined(key_slots=...)``), filled through ``round_keys`` when a key is installed:
    no key schedule runs beside their data, and their requests name a slot. The tweak client,
    whose key2 the tables do not hold, carries its key.

    The tweak client must always accept results (its consumers hold room for every request in
    flight), so the tweak pipeline never stalls.

    ``tweak_engines``: the tweak client on an :class:`~sevlab.rtl.aes.AESFarm` of that many
    compact engines instead of a pipeline (a tweak is needed once a line: three engines give
    0.3 a cycle, where a line a cycle in one direction needs 0.25), behind a queue of
    ``tweak_depth`` requests so that the unit can hand one over in any cycle it admits a request.

    ``rom_styles`` maps a client, or ``"tweak.key"`` for the tweak pipeline's key schedule's
    S-boxes alone, to where those S-box ROMs go (``sbox.ROM_STYLES``); Yosys chooses for what is
    not named.
    """

    slotted = True

    def __init__(self, *, key_bits, tag_shapes, slots, rom_styles=None, tweak_engines=None, tweak_depth=None):
        super().__init__(key_bits=key_bits, tag_shapes=tag_shapes, key_slots=slots)
        rom_styles = dict(rom_styles or {})
        names = {*CLIENTS, "tweak.key"}
        if unknown := set(rom_styles) - names:
            raise ValueError(f"ROM styles name {sorted(unknown)}; the names are {sorted(names)} "
                             f"(the encrypt and decrypt pipelines have no key schedule)")
        self._tweak_depth = tweak_depth
        directions = {"encrypt": "encrypt", "decrypt": "decrypt"}
        self._engines = {}
        for name in CLIENTS:
            if name == "tweak" and tweak_engines is not None:
                if "tweak.key" in rom_styles:
                    raise ValueError("a tweak farm's compact engines place all their S-boxes alike: no 'tweak.key'")
                self._engines[name] = AESFarm(engines=tweak_engines, key_bits=key_bits,
                                              tag_shape=tag_shapes[name], rom_style=rom_styles.get(name))
            elif name == "tweak":
                self._engines[name] = AESPipelined(
                    key_bits=key_bits, direction="encrypt", tag_shape=tag_shapes[name],
                    rom_style=rom_styles.get(name), key_rom_style=rom_styles.get("tweak.key"))
            else:
                self._engines[name] = AESPipelined(
                    key_bits=key_bits, direction=directions[name], tag_shape=tag_shapes[name],
                    rom_style=rom_styles.get(name), key_slots=slots)

    latency = property(lambda self: self._engines["encrypt"].latency)
    engines = property(lambda self: dict(self._engines), doc="The engine of each client (for white-box tests).")

    def elaborate(self, platform):
        m = Module()
        for name in CLIENTS:
            engine = self._engines[name]
            m.submodules[name] = engine
            client = getattr(self, name)
            request = client.i
            if name == "tweak" and isinstance(engine, AESFarm):
                # Registered output: a compact engine feeds a request straight into its first
                # round's S-boxes, which on the ULX3S are logic (an 8-level LUT tree each); from
                # a LUT-RAM queue's asynchronous read that was the critical path at 50 MHz.
                request = _queue(m, client.i, self._tweak_depth, registered=True)
            if name == "tweak":
                m.d.comb += engine.i.payload.key.eq(request.payload.key)
            else:
                m.d.comb += engine.i.payload.slot.eq(request.payload.slot)
                wiring.connect(m, wiring.flipped(self.round_keys), engine.round_keys)
            m.d.comb += [
                engine.i.valid.eq(request.valid),
                engine.i.payload.block.eq(request.payload.block),
                engine.i.payload.tag.eq(request.payload.tag),
                request.ready.eq(engine.i.ready),
                client.o.valid.eq(engine.o.valid),
                client.o.payload.block.eq(engine.o.payload.block),
                client.o.payload.tag.eq(engine.o.payload.tag),
                engine.o.ready.eq(client.o.ready),
            ]
        return m


def _queue(m, requests, depth, *, registered=False):
    """``requests`` through a first-word-fall-through queue of ``depth``: returns its output
    stream (``valid``, ``ready``, ``payload``). ``registered``: the head comes from a register
    (``SyncFIFOBuffered``), a cycle later into an empty queue."""
    fifo = SyncFIFOBuffered if registered else SyncFIFO
    m.submodules.tweak_queue = queue = fifo(width=len(requests.payload.as_value()), depth=depth)
    out = stream.Signature(requests.payload.shape()).create()
    m.d.comb += [
        queue.w_en.eq(requests.valid), queue.w_data.eq(requests.payload), requests.ready.eq(queue.w_rdy),
        out.valid.eq(queue.r_rdy), out.payload.eq(queue.r_data), queue.r_en.eq(out.ready),
    ]
    return out


class CompactCiphers(_Ciphers):
    """One :class:`AESCompact` shared round-robin by the three clients (Nr cycles a block).

    Tweak requests wait in a FIFO of ``tweak_depth`` entries, so that the unit can hand one
    over in any cycle it admits a request, as with the pipelined set.
    """

    def __init__(self, *, key_bits, tag_shapes, tweak_depth):
        super().__init__(key_bits=key_bits, tag_shapes=tag_shapes)
        self._union_tag = data.StructLayout({
            "client": 2,
            **{name: tag_shapes[name] for name in CLIENTS},
        })
        self._aes = AESCompact(key_bits=key_bits, tag_shape=self._union_tag)
        self._tweak_depth = tweak_depth

    def elaborate(self, platform):
        m = Module()
        m.submodules.aes = aes = self._aes
        queued = _queue(m, self.tweak.i, self._tweak_depth)
        requests = [
            (queued.valid, queued.payload, queued.ready),
            (self.encrypt.i.valid, self.encrypt.i.payload, self.encrypt.i.ready),
            (self.decrypt.i.valid, self.decrypt.i.payload, self.decrypt.i.ready),
        ]

        # Round-robin: after serving client n, client n + 1 has priority.
        last = Signal(2)
        grant = Signal(2)
        pending = Signal(3)
        m.d.comb += pending.eq(sum(valid << n for n, (valid, _, _) in enumerate(requests)))
        for offset in reversed(range(3)):
            for n in range(3):
                with m.If(last == n):
                    candidate = (n + 1 + offset) % 3
                    with m.If(pending[candidate]):
                        m.d.comb += grant.eq(candidate)
        take = Signal()
        m.d.comb += take.eq(pending.any() & aes.i.ready)
        for n, (valid, payload, ready) in enumerate(requests):
            with m.If(grant == n):
                m.d.comb += [
                    aes.i.payload.block.eq(payload.block),
                    aes.i.payload.key.eq(payload.key),
                    aes.i.payload.decrypt.eq(n == 2),
                    aes.i.payload.tag.client.eq(n),
                    getattr(aes.i.payload.tag, CLIENTS[n]).eq(payload.tag),
                    ready.eq(take),
                ]
        m.d.comb += aes.i.valid.eq(pending.any())
        with m.If(take):
            m.d.sync += last.eq(grant)

        result = aes.o.payload
        for n, name in enumerate(CLIENTS):
            client = getattr(self, name)
            m.d.comb += [
                client.o.valid.eq(aes.o.valid & (result.tag.client == n)),
                client.o.payload.block.eq(result.block),
                client.o.payload.tag.eq(getattr(result.tag, name)),
            ]
            with m.If(result.tag.client == n):
                m.d.comb += aes.o.ready.eq(client.o.ready)
        return m


CIPHERS = {"pipelined": PipelinedCiphers, "compact": CompactCiphers}
