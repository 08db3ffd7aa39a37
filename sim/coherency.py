"""The cache-coherency rules of SME/SEV, shown on the memory system: three demonstrations.

The cache keeps lines in plaintext, tagged with the physical address (C-bit included) and the
ASID; the unit encrypts a line only when it leaves for DRAM, with the key slot[ASID] holds at
that moment. Hence the rules software follows (``sev-reference.md`` §13, §15): flush a page
before using it with the other C-bit, and WBINVD before a key slot gets a new key. Each function
is a machine scenario (any backend) that returns what it saw, and :func:`claims` states what
that shows, each claim with whether it held; ``tests/rtl/test_cache.py`` and
``tests/cosim/test_cache_cosim.py`` require every claim on every backend. See
``rtl/cache/README.md`` ("Coherency rules").
"""

import hashlib

from .machine import KeySlotDriver, UnitDriver
from .model.meu import line_tweak
from .model.xts import xts_decrypt, xts_encrypt

__all__ = ["DEMONSTRATIONS", "cbit_alias", "rekey_without_wbinvd", "asid_isolation", "claims", "demo_key"]

GUEST = 1
OTHER_GUEST = 2


def demo_key(label):
    """A fixed, documented key pair (SHA-256 of a label): obviously not a secret."""
    digest = hashlib.sha256(label.encode()).digest()
    return digest[:16], digest[16:]


def _pattern(label, lines):
    return b"".join(hashlib.sha256(f"{label} {n}".encode()).digest() * 2 for n in range(lines))


async def _setup(machine):
    keys, unit = KeySlotDriver(machine), UnitDriver(machine)
    await unit.configure(sme_enable=True)
    cbit = 1 << (await unit.cpuid())["ebx"]["cbit_position"]
    return keys, cbit


async def cbit_alias(machine, *, base=0x8000, lines=4):
    """1. A page written with C=1, read with C=0: without a flush, then with CLFLUSH first;
    then the page converted in place to shared (C=0) and back to private (C=1), as Linux does.

    Returns a dict: ``private`` (the plaintext written), ``c0_unflushed`` (what a C=0 read gave
    before any flush), ``dram_before`` (DRAM then), ``c0_flushed`` (the C=0 read after CLFLUSH),
    ``dram_flushed``, ``ciphertext`` (XTS of the plaintext, computed by the golden model),
    ``shared_view`` and ``dram_shared`` (after the private → shared conversion), ``private_view``
    and ``dram_private`` (after shared → private), ``unflushed_conversion`` (the C=0 and C=1
    views after a conversion that skipped the flush, then a WBINVD).
    """
    keys, cbit = await _setup(machine)
    key = demo_key("sevlab coherency: guest key")
    await keys.install(GUEST, *key)
    size = 64 * lines
    private = _pattern("private page", lines)
    out = {"private": private}

    async def flush(address, asid=GUEST):
        for offset in range(0, size, 64):
            await machine.clflush(address + offset, asid=asid)

    await machine.write(base | cbit, private, asid=GUEST)
    out["c0_unflushed"] = await machine.read(base, size, asid=GUEST)
    out["dram_before"] = await machine.dram_read(base, size)
    await flush(base | cbit)
    await flush(base)                       # the stale C=0 copies the first read cached
    out["c0_flushed"] = await machine.read(base, size, asid=GUEST)
    out["dram_flushed"] = await machine.dram_read(base, size)
    out["ciphertext"] = b"".join(
        xts_encrypt(key[0] + key[1], line_tweak(base + n), private[n:n + 64]) for n in range(0, size, 64))
    await flush(base)

    # Private -> shared in place: read with C=1, flush, write with C=0 (set_memory_decrypted).
    plain = await machine.read(base | cbit, size, asid=GUEST)
    await flush(base | cbit)
    await machine.write(base, plain, asid=GUEST)
    await flush(base)
    out["shared_view"] = await machine.read(base, size, asid=GUEST)
    out["dram_shared"] = await machine.dram_read(base, size)
    await flush(base)
    # Shared -> private: read with C=0, flush, write with C=1 (set_memory_encrypted).
    plain = await machine.read(base, size, asid=GUEST)
    await flush(base)
    await machine.write(base | cbit, plain, asid=GUEST)
    await flush(base | cbit)
    out["private_view"] = await machine.read(base | cbit, size, asid=GUEST)
    out["dram_private"] = await machine.dram_read(base, size)
    await flush(base | cbit)

    # A conversion that skips the flush: the private copy is still dirty when the shared one is
    # written, so both are dirty in the cache and the one written back last decides what DRAM
    # holds: one of the two is lost, whichever it is.
    shared = _pattern("shared page", lines)
    await machine.write(base | cbit, private, asid=GUEST)
    await machine.write(base, shared, asid=GUEST)
    await machine.wbinvd()
    out["unflushed_conversion"] = {"shared": shared,
                                   "c0": await machine.read(base, size, asid=GUEST),
                                   "c1": await machine.read(base | cbit, size, asid=GUEST)}
    await machine.wbinvd()
    return out


async def rekey_without_wbinvd(machine, *, base=0xA000, lines=4):
    """2. A guest leaves dirty lines; its ASID's slot gets a new key, without and with WBINVD.

    Returns ``{"data", "without": {...}, "with": {...}}``, each case with ``new_guest_reads`` (what
    the next guest on that ASID reads at the old guest's address) and ``dram_under_old_key``
    (DRAM decrypted with the old guest's key: its data survived only if this equals ``data``).
    """
    keys, cbit = await _setup(machine)
    old_key = demo_key("sevlab coherency: the old guest's key")
    new_key = demo_key("sevlab coherency: the next guest's key")
    size = 64 * lines
    data = _pattern("the old guest's secrets", lines)
    out = {"data": data}
    for case, address in (("without", base), ("with", base + size)):
        await keys.install(GUEST, *old_key)
        await machine.write(address | cbit, data, asid=GUEST)       # dirty lines, in the cache
        if case == "with":
            await machine.wbinvd()
        await keys.install(GUEST, *new_key)                           # the ASID is reused
        new_guest_reads = await machine.read(address | cbit, size, asid=GUEST)
        await machine.wbinvd()
        stored = await machine.dram_read(address, size)
        out[case] = {
            "new_guest_reads": new_guest_reads,
            "dram_under_old_key": b"".join(
                xts_decrypt(old_key[0] + old_key[1], line_tweak(address + n), stored[n:n + 64])
                for n in range(0, size, 64)),
        }
    return out


async def asid_isolation(machine, *, address=0xC000):
    """3. Two ASIDs touch the same physical address: neither reads the other's plaintext.

    Returns ``{"written": {asid: data}, "read": {asid: [first read, read after the other wrote]}}``
    and ``"after_wbinvd"``: what each reads once both lines have gone to DRAM (the last write-back
    wins the DRAM line, and the other guest's key turns it into garbage).
    """
    keys, cbit = await _setup(machine)
    for asid in (GUEST, OTHER_GUEST):
        await keys.install(asid, *demo_key(f"sevlab coherency: ASID {asid} key"))
    written = {asid: _pattern(f"ASID {asid}'s line", 1) for asid in (GUEST, OTHER_GUEST)}
    await machine.write_line(address | cbit, written[GUEST], asid=GUEST)
    reads = {GUEST: [await machine.read_line(address | cbit, asid=GUEST)],
             OTHER_GUEST: [await machine.read_line(address | cbit, asid=OTHER_GUEST)]}
    await machine.write_line(address | cbit, written[OTHER_GUEST], asid=OTHER_GUEST)
    for asid in (GUEST, OTHER_GUEST):
        reads[asid].append(await machine.read_line(address | cbit, asid=asid))
    await machine.wbinvd()
    after = {asid: await machine.read_line(address | cbit, asid=asid) for asid in (GUEST, OTHER_GUEST)}
    await machine.wbinvd()
    return {"written": written, "read": reads, "after_wbinvd": after}


#: name -> scenario, in the order of the issue and the README.
DEMONSTRATIONS = {
    "cbit-alias": cbit_alias,
    "rekey-without-wbinvd": rekey_without_wbinvd,
    "asid-isolation": asid_isolation,
}


def claims(name, result):
    """``[(claim, held), ...]`` for the result of demonstration ``name``."""
    if name == "cbit-alias":
        r, unflushed = result, result["unflushed_conversion"]
        return [
            ("without a flush, the C=0 read misses the dirty C=1 lines and gets DRAM's stale bytes",
             r["c0_unflushed"] == r["dram_before"] and r["c0_unflushed"] != r["private"]),
            ("after CLFLUSH, the C=0 view is exactly the ciphertext in DRAM",
             r["c0_flushed"] == r["dram_flushed"] == r["ciphertext"]),
            ("private -> shared with a flush: both the guest and DRAM hold the plaintext",
             r["shared_view"] == r["dram_shared"] == r["private"]),
            ("shared -> private with a flush: the guest reads the plaintext, DRAM holds ciphertext",
             r["private_view"] == r["private"] and r["dram_private"] == r["ciphertext"]),
            ("converting without the flush loses one of the two copies",
             (unflushed["c0"] == unflushed["shared"]) != (unflushed["c1"] == r["private"])),
        ]
    if name == "rekey-without-wbinvd":
        data, without, with_ = result["data"], result["without"], result["with"]
        return [
            ("without WBINVD, the next guest on the ASID reads the old guest's plaintext from the cache",
             without["new_guest_reads"] == data),
            ("without WBINVD, the old guest's lines reach DRAM under the new key: lost to the old key",
             without["dram_under_old_key"] != data),
            ("with WBINVD first, the next guest reads only garbage",
             with_["new_guest_reads"] != data),
            ("with WBINVD first, DRAM holds the old guest's data under the old key",
             with_["dram_under_old_key"] == data),
        ]
    if name == "asid-isolation":
        written, reads, after = result["written"], result["read"], result["after_wbinvd"]
        first, second = sorted(written)
        return [
            ("each ASID reads back what it wrote, through the cache",
             all(reads[asid][-1] == written[asid] for asid in written)),
            ("an ASID never reads the other ASID's plaintext",
             all(read != written[other] for asid in written for other in written if other != asid
                 for read in reads[asid])),
            ("after WBINVD, one write-back wins the DRAM line and the other ASID reads garbage",
             sum(after[asid] == written[asid] for asid in written) == 1
             and all(after[asid] != written[other] for asid, other in ((first, second), (second, first)))),
        ]
    raise ValueError(f"no demonstration named {name!r}")
