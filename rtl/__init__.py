"""Synthesizable Amaranth RTL of the sevlab memory encryption unit. See ``README.md``."""
