"""Nested page tables: a guest's physical pages (GPA) onto system pages (SPA).

Each entry carries the host's C-bit for that page — what a guest access with C=0 (a shared page)
is encrypted with: the host's SME key when set, nothing when clear. The guest's own C-bit, in
the guest's page tables, decides whether an access is private (the guest's key); the host cannot
change that, only where the page lives. Entries of a SEV guest are pinned: the system page must
not move while the guest's ciphertext (bound to its address by the XTS tweak) is in it.
"""

from dataclasses import dataclass

from .hostmem import PAGE

__all__ = ["NestedPageFault", "NestedEntry", "NestedPageTable"]


class NestedPageFault(Exception):
    """A guest physical address with no mapping."""


@dataclass
class NestedEntry:
    spa: int                # the system page, without the C-bit
    host_c: bool            # the host's C-bit for the page (host SME)
    pinned: bool = True


class NestedPageTable:
    def __init__(self):
        self.entries = {}

    def map(self, gpa, spa, *, host_c):
        if gpa % PAGE or spa % PAGE:
            raise ValueError(f"pages are 4 KiB-aligned: GPA {gpa:#x}, SPA {spa:#x}")
        self.entries[gpa] = NestedEntry(spa, host_c)

    def unmap(self, gpa):
        return self.entries.pop(gpa)

    def entry(self, gpa):
        try:
            return self.entries[gpa - gpa % PAGE]
        except KeyError:
            raise NestedPageFault(f"GPA {gpa:#x} is not mapped") from None

    def translate(self, gpa):
        """``(spa, host_c)`` of a guest physical address."""
        entry = self.entry(gpa)
        return entry.spa + gpa % PAGE, entry.host_c

    def runs(self, gpa, length):
        """``[(spa, length), ...]``: the range cut where the system pages stop being contiguous
        (KVM issues LAUNCH_UPDATE_DATA once per run)."""
        runs = []
        for _, spa, chunk in self.pages(gpa, length):
            if runs and sum(runs[-1]) == spa:
                runs[-1] = (runs[-1][0], runs[-1][1] + chunk)
            else:
                runs.append((spa, chunk))
        return runs

    def pages(self, gpa, length):
        """Per page of the range: ``(gpa, spa, length)``."""
        out = []
        address, end = gpa, gpa + length
        while address < end:
            chunk = min(end, address - address % PAGE + PAGE) - address
            out.append((address, self.translate(address)[0], chunk))
            address += chunk
        return out
