"""How much memory a DuckDB step may take: a share of the machine's (or its container's)
memory, so that DuckDB spills to disk instead of growing until the kernel kills the process."""

from __future__ import annotations

import os
import re
from pathlib import Path

DEFAULT_MEMORY_SHARE = 0.4  # of the machine's memory, for each DuckDB step (import, features)
MIN_MEMORY_MB = 512
# a DuckDB memory size as a user writes it: 512MB, 2GB, 1.5 gb (powers of 1000)
SIZE_PATTERN = r"\d+(\.\d+)?\s*(KB|MB|GB|TB|kb|mb|gb|tb)"


def is_size(text: str) -> bool:
    """Whether ``text`` is a DuckDB memory size (``SIZE_PATTERN``)."""
    return re.fullmatch(SIZE_PATTERN, text) is not None


def machine_memory() -> int:
    """The memory this process may use, in bytes: the physical memory, or the cgroup's limit
    (v2 ``memory.max``, v1 ``memory.limit_in_bytes``) when lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def default_memory(share: float = DEFAULT_MEMORY_SHARE) -> str:
    """A DuckDB size (``"9600MB"``, MB = 10^6 bytes) of ``share`` of ``machine_memory``, at
    least 512 MB."""
    return f"{max(int(machine_memory() * share // 10**6), MIN_MEMORY_MB)}MB"
