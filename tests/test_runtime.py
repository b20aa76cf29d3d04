"""byol3d.utils.runtime.keep_freed_memory: glibc keeps large freed blocks for the next training step, the
probe entry point applies it when `run.keep_freed_memory` is set, and the setting never changes a run's key.
Each check runs in a fresh interpreter: the allocator setting is process-wide and permanent."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from byol3d.profile import Profile
from conftest import MALLINFO_PRELUDE

# Prints how many blocks glibc mmapped for one fresh 100 MB allocation made after `setup` ran:
# 1 when it came from mmap (and goes back to the system when freed), 0 when it came from the heap.
MMAPPED_AFTER = """
before = libc.mallinfo2().hblks
block = libc.malloc(100 << 20)
print(libc.mallinfo2().hblks - before)
"""

glibc_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")


def _mmapped_blocks(setup: str, *args: str) -> int:
    script = MALLINFO_PRELUDE + setup + MMAPPED_AFTER
    result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=300,
                            check=True)
    return int(result.stdout.split()[-1])


@glibc_only
def test_kept_memory_serves_large_blocks_from_the_heap():
    assert _mmapped_blocks("") == 1  # glibc's default: a fresh mapping, page-faulted in on first use
    kept = "from byol3d.utils.runtime import keep_freed_memory\nassert keep_freed_memory()"
    assert _mmapped_blocks(kept) == 0


PROBE = """
from byol3d.config import apply_overrides
from byol3d.probe import run_probe
from byol3d.profile import Profile
profile = apply_overrides(Profile.smoke(), ["run.keep_freed_memory=" + sys.argv[2]])
run_probe(profile, sys.argv[1], "majority", sys.argv[3])
"""


@glibc_only
@pytest.mark.slow
def test_the_probe_entry_point_applies_the_setting(synth_processed, tmp_path):
    for keep, mmapped in (("false", 1), ("true", 0)):
        out = tmp_path / f"probe-{keep}"
        assert _mmapped_blocks(PROBE, str(synth_processed), keep, str(out)) == mmapped
        assert (out / "metrics.json").exists()


def test_the_setting_is_not_part_of_a_run_identity():
    run = Profile.quick().run
    assert run.keep_freed_memory
    assert dataclasses.replace(run, keep_freed_memory=False).result_fields() == run.result_fields()
    assert "keep_freed_memory" not in run.result_fields()
