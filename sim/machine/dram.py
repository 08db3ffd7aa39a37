"""A sparse byte-addressed DRAM for the simulation backends: unwritten bytes read as zero."""

__all__ = ["SparseDRAM"]

_PAGE = 4096


class SparseDRAM:
    def __init__(self):
        self._pages = {}

    def read(self, address, length):
        out = bytearray()
        while length:
            page, offset = divmod(address, _PAGE)
            take = min(length, _PAGE - offset)
            stored = self._pages.get(page)
            out += stored[offset:offset + take] if stored is not None else bytes(take)
            address += take
            length -= take
        return bytes(out)

    def write(self, address, data):
        data = memoryview(bytes(data))
        while data:
            page, offset = divmod(address, _PAGE)
            take = min(len(data), _PAGE - offset)
            stored = self._pages.setdefault(page, bytearray(_PAGE))
            stored[offset:offset + take] = data[:take]
            address += take
            data = data[take:]

    def write_strobed(self, address, data, strobe):
        """Write the bytes of ``data`` whose bit in ``strobe`` is set."""
        if strobe == (1 << len(data)) - 1:
            self.write(address, data)
            return
        for n, byte in enumerate(data):
            if strobe >> n & 1:
                self.write(address + n, bytes([byte]))

    def image(self):
        """Every page ever written, ``{page address: bytes}``, to compare two runs byte for byte."""
        return {page * _PAGE: bytes(data) for page, data in sorted(self._pages.items())}
