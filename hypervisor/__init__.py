"""The KVM-like hypervisor, guest OS and guest owner models (issue 6).

Built so far: ``psp.py``, the host's driver for the SEV firmware's mailbox.
"""
