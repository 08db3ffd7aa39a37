"""The host's SEV ASID allocator, as KVM keeps it (``sev.c``: ``sev_asid_bitmap``,
``sev_reclaim_asid_bitmap``; ``sev-reference.md`` §13).

An ASID is free, in use by one VM, or reclaimable: released by a destroyed VM, but its key slot
may still have dirty lines tagged with it in the cache and data fabric. A reclaimable ASID becomes
free only after WBINVD on every core and DF_FLUSH — which KVM does lazily, when an allocation
finds nothing free (:meth:`ASIDAllocator.take` returns None and the caller recycles).
"""

__all__ = ["ASIDAllocator", "NoASID"]


class NoASID(Exception):
    """No ASID of the kind asked for is free or reclaimable."""


class ASIDAllocator:
    """ASIDs ``1 .. max_sev_asid``: SEV-ES guests get ``1 .. min_sev_asid - 1``, plain SEV guests
    ``min_sev_asid .. max_sev_asid`` (CPUID Fn8000_001F EDX and ECX)."""

    def __init__(self, min_sev_asid, max_sev_asid):
        if not 1 <= min_sev_asid <= max_sev_asid:
            raise ValueError(f"need 1 <= min_sev_asid <= max_sev_asid, not {min_sev_asid}, {max_sev_asid}")
        self.min_sev_asid, self.max_sev_asid = min_sev_asid, max_sev_asid
        self.in_use = set()
        self.reclaimable = set()

    def range(self, *, es=False):
        return range(1, self.min_sev_asid) if es else range(self.min_sev_asid, self.max_sev_asid + 1)

    def take(self, *, es=False):
        """The lowest free ASID of the kind, now in use; None if none is free.

        Raises
        ------
        NoASID
            None is free and none is reclaimable either (recycling would not help).
        """
        candidates = self.range(es=es)
        for asid in candidates:
            if asid not in self.in_use and asid not in self.reclaimable:
                self.in_use.add(asid)
                return asid
        if not any(asid in self.reclaimable for asid in candidates):
            kind = "SEV-ES" if es else "SEV"
            raise NoASID(f"every {kind} ASID ({candidates.start}..{candidates.stop - 1}) is in use")
        return None

    def release(self, asid):
        """A destroyed VM's ASID: reclaimable, not free."""
        self.in_use.remove(asid)
        self.reclaimable.add(asid)

    def recycled(self):
        """Call after WBINVD and DF_FLUSH: every reclaimable ASID is free again."""
        self.reclaimable.clear()
