"""The SEV firmware model (the AMD Secure Processor). See ``firmware/README.md``."""
