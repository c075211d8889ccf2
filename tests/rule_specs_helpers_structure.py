"""Cases for the rules of the helpers of generated gradient code defined in rearranging,
rearranging_more, selection, indexing, builtins_, shared, signal, results, containers and
numerical (issue 16): rule_specs.SPECS takes ``SPECS`` so the table-wide tests run each rule
in every mode, and test_rule_arguments takes ``REVIEWED`` (options a rule does not read, and
why).

The cotangent each helper takes moves (``A``); what it reads for shapes, indices and
options is a constant.
"""

from __future__ import annotations

import numpy as np
from astgrad.runtime.rules import (
    builtins_,
    containers,
    indexing,
    rearranging,
    rearranging_more,
    results,
    selection,
    shared,
    signal,
)
from rule_specs import A, case

_ROW = np.array([0.3, -1.0, 2.0, 0.5])
_MATRIX = np.array([[1.0, -1.0, 0.0], [0.5, 2.0, -3.0]])
_GRID = np.meshgrid(np.zeros(2), np.zeros(3))
_GRID_IJ = np.meshgrid(np.zeros(2), np.zeros(3), indexing="ij")
_GRID_SPARSE = np.meshgrid(np.zeros(2), np.zeros(3), sparse=True)
_BLOCKS = [[np.zeros((2, 2)), np.zeros((2, 1))], [np.zeros((1, 3))]]
_CONDITIONS = [np.array([True, False, False]), np.array([False, False, True])]

SPECS: dict = {
    rearranging.tile_grad: [
        case(A((6,)), np.zeros(2), 3),
        case(A((2, 6)), np.zeros(3), (2, 2)),
        case(A((2, 3, 4)), np.zeros((3, 2)), (2, 1, 2)),
    ],
    rearranging.repeat_grad: [
        case(A((5,)), np.zeros(2), [2, 3]),
        case(A((2, 6)), np.zeros((2, 3)), 2, 1),
        case(A((8,)), np.zeros((2, 2)), 2),
        case(A((3, 2)), np.zeros((2, 2)), [1, 2], 0),
    ],
    rearranging.reshape_back: [
        case(A((6,)), np.zeros((2, 3))),
        case(A((6,)), np.zeros((2, 3)), "F"),
        case(A((3, 2)), np.zeros((2, 3)), "F"),
    ],
    rearranging.diag_grad: [
        case(A((3, 3)), np.zeros(3)),
        case(A((4, 4)), np.zeros(3), 1),
        case(A((2,)), np.zeros((2, 3))),
        case(A((2,)), np.zeros((3, 3)), -1),
    ],
    shared.place_diagonal: [
        case(A((2,)), np.zeros((2, 3)), 1),
        case(A((3,)), np.zeros((3, 3))),
        case(A((4, 2)), np.zeros((2, 4, 3)), 0, 0, 2),
    ],
    rearranging.unpad: [
        case(A((4, 5)), np.zeros((2, 3)), 1),
        case(A((6, 3)), np.zeros((2, 3)), ((1, 3), (0, 0))),
        case(A((7,)), np.zeros(3), 2, "reflect"),
        case(A((6, 5)), np.zeros((2, 3)), ((1, 3), (2, 0)), "edge"),
        case(A((8,)), np.zeros(3), (2, 3), "wrap"),
        case(A((7,)), np.zeros(3), 2, "symmetric"),
    ],
    rearranging.pad_fill_grad: [
        case(A((4, 5)), np.zeros((2, 3)), 1),
        case(A((5, 4)), np.zeros((2, 3)), ((1, 2), (0, 1)), np.zeros((2, 2))),
        case(A((7,)), np.zeros(3), 2, np.zeros(2)),
    ],
    rearranging.concatenate_grads: [
        case(A((5,)), [np.zeros(2), np.zeros(3)]),
        case(A((2, 5)), (np.zeros((2, 1)), np.zeros((2, 4))), 1),
        case(A((7,)), [np.zeros((2, 2)), np.zeros(3)], None),
        case(A((6, 2)), np.zeros((3, 2, 2))),
    ],
    rearranging.unstack: [
        case(A((2, 3)), [np.zeros(3), np.zeros(3)]),
        case(A((3, 4)), [np.zeros(3)] * 4, 1),
        case(A((2, 3, 2)), np.zeros((2, 2, 3)), -1),
    ],
    rearranging.hstack_grads: [
        case(A((5,)), [np.zeros(2), np.zeros(3)]),
        case(A((2, 5)), [np.zeros((2, 1)), np.zeros((2, 4))]),
    ],
    rearranging.vstack_grads: [
        case(A((3, 2)), [np.zeros(2), np.zeros((2, 2))]),
        case(A((3, 2)), np.zeros((3, 2))),
    ],
    rearranging.dstack_grads: [
        case(A((1, 3, 2)), [np.zeros(3), np.zeros(3)]),
        case(A((2, 2, 3)), [np.zeros((2, 2)), np.zeros((2, 2, 2))]),
    ],
    rearranging.column_stack_grads: [
        case(A((3, 3)), [np.zeros(3), np.zeros((3, 2))]),
    ],
    rearranging.split_grad: [
        case([A((2,)), A((3,))], [np.zeros(2), np.zeros(3)]),
        case((A((2, 1)), A((2, 3))), [np.zeros((2, 1)), np.zeros((2, 3))], 1),
    ],
    indexing.scatter_grad: [
        case(A((2,)), np.zeros(3), np.array([0, 0])),
        case(A((2, 3)), np.zeros((4, 3)), slice(1, 3)),
        case(A(()), np.zeros(3), 1),
        case(A((2,)), np.zeros((2, 3)), (slice(None), 1)),
        case(A((2,)), np.zeros(3), np.array([True, False, True])),
    ],
    indexing.without_index: [
        case(A((3,)), 1),
        case(A((3, 4)), (slice(None), [0, 2, 0])),
    ],
    # (an index that repeats a position: tests/test_helper_rules_structure.py, as a device
    # refuses it)
    indexing.assigned_value_grad: [
        case(A((3,)), [0, 2]),
        case(A((4, 3)), slice(1, 3)),
        case(A((3, 2)), (np.array([2, 0]), slice(None))),
    ],
    selection.take_grad: [
        case(A((3,)), np.zeros(2), [1, 1, 0]),
        case(A((2, 2)), np.zeros((3, 2)), [2, 0], 0),
        case(A((2, 3)), np.zeros(4), [[0, 5, 1], [3, 3, -1]], None, "wrap"),
        case(A((2, 2)), np.zeros((2, 3)), [4, -1], 1, "clip"),
    ],
    selection.take_in_mode: [
        case(A((4,)), [1, 1, 0]),
        case(A((3, 2)), [2, 0], 0),
        case(A((4,)), [[0, 5, 1], [3, 3, -1]], None, "wrap"),
        case(A((2, 3)), [4, -1], 1, "clip"),
    ],
    selection.take_along_axis_grad: [
        case(A((2, 2)), np.zeros((2, 3)), np.array([[0, 0], [2, 1]]), 1),
        case(A((3,)), np.zeros(4), np.array([3, 3, 0]), None),
        case(A((1, 3)), np.zeros((2, 3)), np.array([[1, 0, 1]]), 0),
    ],
    selection.partition_grad: [
        case(A((4,)), _ROW, np.partition(_ROW, 1)),
        case(A((2, 3)), _MATRIX, np.partition(_MATRIX, 1, axis=0), 0),
        case(A((6,)), _MATRIX, np.partition(_MATRIX, 2, axis=None), None),
    ],
    selection.cast_grad: [
        case(A((3,)), np.zeros(3, dtype=np.float32), np.zeros(3)).checked(rtol=1e-3, eps=1e-3),
        case(A((3,), dtype=np.float32), np.zeros(3), np.zeros(3, dtype=np.float32)).checked(
            rtol=1e-3, eps=1e-3
        ),
        case(A((3,)), np.zeros(3), np.zeros(3, dtype=np.int64)),
        case(A((3,)), np.zeros(3, dtype=complex), np.zeros(3)),
    ],
    selection.select_default_grad: [
        case(A((3,)), _CONDITIONS, 0.0),
        case(A((3,)), _CONDITIONS, np.zeros(3)),
        case(A((2, 3)), [np.array([[True], [False]])], np.zeros((1, 3))),
    ],
    selection.select_grads: [
        case(A((3,)), _CONDITIONS, [np.zeros(3), np.zeros(())]),
        case(A((2, 3)), [np.array([[True], [False]])], [np.zeros((2, 1))]),
    ],
    selection.unstack_like: [
        case(A((2, 2)), [np.zeros(2), np.zeros(2)]),
        case(A((3,)), [0.0, 0.0, 0.0]),
        case(A((1, 2, 2)), [np.zeros(2), np.zeros(2)]),
        case(A((2, 3)), np.zeros((2, 3))),
        case(A(()), 0.0),
    ],
    shared.output_parts: [
        case([A((2,)), A((3,))], [np.zeros(2), np.zeros(3)]),
        case(A((2, 3)), [np.zeros(3), np.zeros(3)]),
        case(A((3,)), [np.zeros(3)]),
    ],
    results.results_grad: [
        case(A((2, 3)), np.zeros((2, 3)), np.zeros(3)),
        case([A((2,)), A((3,))], [np.zeros(2), np.zeros(3)], [np.zeros(2), np.zeros(3)]),
    ],
    containers.add_adjoints: [
        case(A((3,)), A((3,))),
        case(A((2, 3)), A((3,))),
        case([A((2,)), A(())], [A((2,)), A(())]),
    ],
    builtins_.spread: [
        case(A((3,)), [np.zeros(3), np.zeros(3)]),
        case(A((2, 3)), [np.zeros(3), np.zeros((2, 3))]),
        case(A((3,)), np.zeros((4, 3))),
    ],
    builtins_.chosen: [
        case(A((2,)), np.array([1.0, 2.0]), [np.array([0.0, 1.0]), np.array([1.0, 2.0])]),
        case(A((3,)), np.array([1.0, 2.0, 3.0]), np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])),
        case(A(()), np.array(2.0), [np.array(1.0), np.array(2.0), np.array(0.5)]),
    ],
    signal.full_cotangent: [
        case(A((2,)), 4),
        case(A((3,)), 6, True),
        case(A((2, 2)), (4, 3)),
    ],
    rearranging_more.chosen_from: [
        case(np.array([0, 2, 1, 0]), [A((4,)), A(()), A((4,))]),
        case(np.array([[0, 3], [1, -1]]), [A((2,)), A((2, 2))], "wrap"),
        case(np.array([0, 4, 1]), A((2, 3)), "clip"),
    ],
    rearranging_more.choices_grads: [
        case(
            A((4,)),
            np.zeros(4),
            np.array([0, 2, 1, 0]),
            [np.zeros(4), np.zeros(()), np.zeros(4)],
            "raise",
        ),
        case(A((3,)), np.zeros(3), np.array([1, 0, 1]), np.zeros((2, 3)), "raise"),
        case(A((3,)), np.zeros(3), np.array([3, -1, 0]), [np.zeros(3), np.zeros(3)], "wrap"),
    ],
    rearranging_more.meshgrid_grad: [
        case([A((3, 2)), A((3, 2))], _GRID, 0, np.zeros(2), "xy"),
        case([A((3, 2)), A((3, 2))], _GRID, 1, np.zeros(3), "xy"),
        case([A((2, 3)), A((2, 3))], _GRID_IJ, 1, np.zeros(3), "ij"),
        case([A((1, 2)), A((3, 1))], _GRID_SPARSE, 1, np.zeros(3), "xy"),
    ],
    rearranging_more.block_grads: [
        case(A((5,)), [np.zeros(2), np.zeros(3)]),
        case(A((2, 5)), [np.zeros((2, 2)), np.zeros((2, 3))]),
        case(A((5,)), [np.zeros(2), 7.0, np.zeros(2)]),
    ],
    rearranging_more.block_pieces: [
        case(A((3, 3)), [np.zeros((2, 2)), np.zeros((2, 1)), np.zeros((1, 3))], _BLOCKS),
        case(A((5,)), [np.zeros(2), 7.0, np.zeros(2)], [np.zeros(2), 7.0, np.zeros(2)]),
    ],
}

_SHAPE = "the result's shape says it, and the rule reads that shape"
_SHAPES = "the result's parts' shapes say it, and the rule reads those shapes"

#: (rule, option) -> why the rule need not read it
REVIEWED: dict = {
    ("tile_grad", "A"): _SHAPE,
    ("repeat_grad", "a"): _SHAPE,
    ("reshape_back", "a"): _SHAPE,
    ("diag_grad", "v"): _SHAPE,
    ("place_diagonal", "a"): _SHAPE,
    ("unpad", "array"): _SHAPE,
    ("pad_fill_grad", "constant_values"): "the cotangent's shape says it (the rule's own g)",
    ("concatenate_grads", "arrays"): _SHAPES,
    ("unstack", "arrays"): _SHAPES,
    ("hstack_grads", "tup"): _SHAPES,
    ("vstack_grads", "tup"): _SHAPES,
    ("dstack_grads", "tup"): _SHAPES,
    ("column_stack_grads", "tup"): _SHAPES,
    ("scatter_grad", "x"): _SHAPE,
    ("take_grad", "a"): _SHAPE,
    ("take_along_axis_grad", "arr"): _SHAPE,
    ("select_default_grad", "default"): "the cotangent's shape says it (the rule's own g)",
    ("select_grads", "choicelist"): "the cotangents' shapes say it (the rule's own g)",
    ("unstack_like", "like"): _SHAPE,
    ("output_parts", "parts"): _SHAPES,
    ("results_grad", "result"): _SHAPES,
    ("spread", "iterable"): _SHAPES,
    ("choices_grads", "choices"): _SHAPES,
    ("choices_grads", "result"): "the cotangent's shape says it (the rule's own g)",
    ("meshgrid_grad", "x"): "the result's parts' shapes say where it went (x is None only "
    "where the helper returns None, which has no derivative)",
    ("block_pieces", "blocks"): _SHAPES,
}
