"""The SEV firmware model (the AMD Secure Processor). Not built yet: issue 5 builds it."""
