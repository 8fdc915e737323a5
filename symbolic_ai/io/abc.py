"""ABC files with many tunes: the file is cut into its tunes here (at each `X:` line), so that one
tune is parsed (and bounded by `budget.check_score`) without parsing the others.

A tune is named by its `X:` reference number, as ABC tools do (`abc2midi file.abc 3`); the file
header (the lines before the first `X:`) is kept in front of every tune.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InputError

_X_LINE = re.compile(rb"^X:[ \t]*(\S*)", re.MULTILINE)


@dataclass(frozen=True)
class Tune:
    number: int  # the X: reference number (the tune's position, from 1, when X: is not a number)
    text: bytes  # the file header + the tune, parseable on its own


def split_tunes(data: bytes) -> list[Tune]:
    """The tunes of an ABC file, in file order (one tune without a header when there is no `X:`)."""
    starts = list(_X_LINE.finditer(data))
    if not starts:
        return [Tune(1, data)]
    header = data[:starts[0].start()]
    tunes = []
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(data)
        ref = m.group(1).decode("ascii", "replace")
        tunes.append(Tune(int(ref) if ref.isdigit() else i + 1, header + data[m.start():end]))
    return tunes


def pick_tune(tunes: list[Tune], number: int | None, name: str) -> Tune:
    """The tune with reference number `number` (the first tune when None); InputError names the
    numbers the file has."""
    if number is None:
        return tunes[0]
    for t in tunes:
        if t.number == number:
            return t
    raise InputError(f"{name}: no tune X:{number}; the file has {len(tunes)} tune(s): X:{describe(tunes)}")


def describe(tunes: list[Tune]) -> str:
    """The reference numbers, as a range when they run on ('1..44'), else the first ten."""
    nums = [t.number for t in tunes]
    if nums == list(range(nums[0], nums[0] + len(nums))) and len(nums) > 2:
        return f"{nums[0]}..{nums[-1]}"
    return ", ".join(map(str, nums[:10])) + (", …" if len(nums) > 10 else "")
