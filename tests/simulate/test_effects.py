"""An effect kept as segments reads exactly as the dense array the same operations would have built: blocks, points,
single minutes, the minutes it departs from its default and the minutes it changes."""

import numpy as np
import pytest

from pipelines.simulate.effects import Effect

ROWS, MINUTES = 7, 300


def _pair(default, dtype, operations):
    """The effect and the dense array after the same operations (rows, start, stop, op, value), in order."""
    effect = Effect(ROWS, MINUTES, default, dtype)
    dense = np.full((ROWS, MINUTES), default, dtype)
    for rows, start, stop, op, value in operations:
        effect.apply(rows, start, stop, op, value)
        index = (slice(None) if rows is None else np.asarray(rows)[:, None], slice(max(start, 0), max(stop, 0)))
        if op == "set":
            dense[index] = value
        elif op == "mul":
            dense[index] *= value
        else:
            dense[index] += value
    return effect, dense


def _random_operations(rng, op, count=12):
    operations = []
    for _ in range(count):
        start = int(rng.integers(-20, MINUTES))
        rows = None if rng.random() < 0.2 else sorted(rng.choice(ROWS, size=int(rng.integers(1, 4)), replace=False))
        operations.append((rows, start, start + int(rng.integers(0, 80)), op, float(rng.uniform(0.5, 3.0))))
    return operations


@pytest.mark.parametrize(("default", "op"), [(1.0, "mul"), (0.0, "add"), (0.0, "set")])
def test_segments_read_as_the_dense_array(default, op):
    rng = np.random.default_rng(7)
    effect, dense = _pair(default, np.float32, _random_operations(rng, op))
    assert np.array_equal(effect[:, 0:MINUTES], dense)  # to the bit: the same float32 arithmetic, in order
    assert np.array_equal(effect[:, 40:90], dense[:, 40:90])
    nodes = np.array([5, 1, 1, 3])
    assert np.array_equal(effect[nodes, 10:200], dense[nodes, 10:200])
    assert np.array_equal(effect[2, 0:MINUTES], dense[2, 0:MINUTES])
    rows, minutes = rng.integers(0, ROWS, 500), rng.integers(0, MINUTES, 500)
    assert np.array_equal(effect[rows, minutes], dense[rows, minutes])
    assert np.array_equal(effect.column(123), dense[:, 123])
    assert np.array_equal(effect[:, 77], dense[:, 77]) and np.array_equal(effect[2:5, 77], dense[2:5, 77])
    assert effect[3, 150] == dense[3, 150]
    assert np.array_equal(effect.departs(), (dense != default).any(axis=0))
    expected = set((np.flatnonzero((np.diff(dense, axis=1) != 0).any(axis=0)) + 1).tolist())
    assert effect.changes() == expected


def test_assignment_sets_a_block_and_flags_stay_boolean():
    effect = Effect(ROWS, MINUTES, False, np.bool_)
    effect[:, 50:] = True
    effect[np.array([2, 4]), 10:20] = True
    effect[1:3, 0:5] = True
    dense = np.zeros((ROWS, MINUTES), bool)
    dense[:, 50:] = True
    dense[[2, 4], 10:20] = True
    dense[1:3, 0:5] = True
    assert effect[:, 0:MINUTES].dtype == np.bool_
    assert np.array_equal(effect[:, 0:MINUTES], dense)
    assert effect.changes() == {5, 10, 20, 50}


def test_an_effect_holds_its_segments_not_the_run():
    # a year of minutes with one 3-hour incident on two nodes: one segment, and a day's window is a day wide
    effect = Effect(80, 525_600, 1.0, np.float32)
    effect.apply([3, 9], 200_000, 200_180, "mul", 1.35)
    assert len(effect.segments) == 1
    day = effect[:, 199_440:200_880]
    assert day.shape == (80, 1440) and day[3, 600] == np.float32(1.35) and day[4, 600] == 1.0
