"""Where rule helpers used to live, kept only for the modules outside ``runtime/rules``
that still import these five names from here (the tape's modules, ``transform/reverse.py``
and ``transform/pipeline.py``: ``grep -rn rules.helpers``). Import from their homes
instead, then delete this module:

* ``unbroadcast``, ``expand_reduced`` (and every helper rules of several families call):
  ``runtime.rules.shared``;
* ``dot_2d``: ``runtime.rules.arithmetic``; ``scatter_add``: ``runtime.rules.indexing``;
  ``join_elements``: ``runtime.rules.shapes``.
"""

from .arithmetic import dot_2d
from .indexing import scatter_add
from .shapes import join_elements
from .shared import expand_reduced, unbroadcast

__all__ = ["dot_2d", "expand_reduced", "join_elements", "scatter_add", "unbroadcast"]
