"""The KVM-like host (``kvm.py``), its mailbox driver, memory, ASIDs and nested page tables, the
vCPUs and guest OS, the guest owner and the VMM's launch. See ``README.md`` in this folder."""
