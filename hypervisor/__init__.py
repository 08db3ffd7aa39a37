"""The KVM-like hypervisor, guest OS and guest owner models. Not built yet: issue 6 builds them."""
