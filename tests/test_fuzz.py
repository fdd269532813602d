"""A small seeded fuzz run in the default suite (the script runs any count: python scripts/fuzz.py --count 2000)."""
from conftest import run_script


def test_broken_and_hostile_files_end_cleanly():
    res = run_script("fuzz", "--count", "36", "--seed", "3", "--seconds", "240")
    assert res.code == 0, res.out[-2000:]
    counts = dict(part.rsplit(" ", 1) for part in res.out.strip().splitlines()[-1].split(", "))
    assert int(counts["cases"]) == 36 and int(counts["failures"]) == 0
    assert int(counts["clean errors"]) > 0 and int(counts["valid outputs"]) > 0
