"""The platform's persistent state: what survives a restart of the firmware model.

On a real part this is the SPI flash's NV area: the chip's CEK, the platform's OCA, PEK and PDH,
and whether an owner has taken the platform. Here it is a small JSON document (private keys as
PEM, certificates as hex), in memory or in a file. Only the firmware reads or writes it. See
``firmware/README.md`` ("Persistent state").
"""

import copy
import json
import os
import pathlib
import tempfile

from cryptography.hazmat.primitives import serialization

__all__ = ["PlatformStore", "private_key_to_text", "private_key_from_text"]


def private_key_to_text(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def private_key_from_text(text):
    return serialization.load_pem_private_key(text.encode(), password=None)


class PlatformStore:
    """A dictionary of the platform's persistent items, saved to ``path`` (when given) on every
    successful command that changes it.

    Parameters
    ----------
    path : path-like or None
        A JSON file, read if it exists; None keeps the state in memory only (it lasts as long as
        this object).

    Raises
    ------
    OSError
        The file exists but cannot be read.
    ValueError
        The file is not a JSON object (not a store this class wrote).
    """

    def __init__(self, path=None):
        self._path = None if path is None else pathlib.Path(path)
        self._items = {}
        if self._path is not None and self._path.exists():
            try:
                items = json.loads(self._path.read_text())
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                raise ValueError(f"{self._path} is not a platform store: {error}") from None
            if not isinstance(items, dict):
                raise ValueError(f"{self._path} is not a platform store: not a JSON object")
            self._items = items

    @property
    def path(self):
        return self._path

    def __contains__(self, name):
        return name in self._items

    def get(self, name, default=None):
        return self._items.get(name, default)

    def set(self, name, value):
        self._items[name] = value

    def delete(self, *names):
        for name in names:
            self._items.pop(name, None)

    def snapshot(self):
        return copy.deepcopy(self._items)

    def restore(self, snapshot):
        self._items = copy.deepcopy(snapshot)

    def save(self):
        """Write the file atomically (a crash leaves the old state or the new, never half)."""
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self._path.parent, prefix=self._path.name)
        with os.fdopen(handle, "w") as file:
            json.dump(self._items, file, indent=1, sort_keys=True)
        os.replace(temporary, self._path)
