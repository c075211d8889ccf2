"""Fast tree walking and copying, shared by the passes.

The passes ask "which names does this read?" thousands of times per function, and copy
rule templates at every call site. ``gast.walk`` (a generator over a deque) and
``copy.deepcopy`` (a memo, ``__reduce_ex__`` and a dict copy per node) were most of the
time a first call took; these do the same work with plain lists.
"""

from __future__ import annotations

from collections.abc import Callable

import gast

from . import anno

#: fields that hold a name, a number or a flag, never a node (a node class's other
#: fields may hold nodes: ``ExceptHandler.name`` is a ``Name`` in gast)
_NEVER_NODES = frozenset(
    "id attr arg module level asname conversion is_async type_comment kind tag".split()
)
#: node class -> its fields that may hold nodes, in ``_fields`` order
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def child_fields(kind: type) -> tuple[str, ...]:
    """The fields of the node class ``kind`` that may hold nodes, in order."""
    found = _CHILD_FIELDS.get(kind)
    if found is None:
        found = _CHILD_FIELDS[kind] = tuple(f for f in kind._fields if f not in _NEVER_NODES)
    return found


def children(node: object, family: type = gast.AST) -> list:
    """The nodes right under ``node``, in field order: ``gast`` nodes, or with ``family``
    (``ast.AST``) the standard library's."""
    found = []
    kind = type(node)
    names = _CHILD_FIELDS.get(kind)
    fields = node.__dict__
    for name in names if names is not None else child_fields(kind):
        value = fields.get(name)
        if value is None:
            continue
        if type(value) is list:
            found += [item for item in value if isinstance(item, family)]
        elif isinstance(value, family):
            found.append(value)
    return found


#: node class -> the fields ``walk`` follows: those that may hold nodes, less contexts
#: and operators (leaves no pass asks about), and nothing of a constant
_WALKED_FIELDS: dict[type, tuple[str, ...]] = {}
_LEAVES = frozenset({"ctx", "op", "ops"})


def _walked_fields(kind: type) -> tuple[str, ...]:
    fields = () if kind is gast.Constant else child_fields(kind)
    found = _WALKED_FIELDS[kind] = tuple(f for f in fields if f not in _LEAVES)
    return found


def walk(node: gast.AST) -> list[gast.AST]:
    """``node`` and every node under it, in ``gast.walk``'s (breadth-first) order, less
    the contexts (``Load``, ``Store``...) and operators (``Add``, ``Lt``...) under it.

    Those are leaves that every statement has several of and no pass looks for (a pass
    asks ``node.ctx`` or ``node.op`` of the node holding one): leaving them out made every
    walk and every loop over one a third shorter. A list made up front: changing the tree
    while looping over it changes nothing here.
    """
    found = [node]
    append = found.append
    table = _WALKED_FIELDS
    name_kind = gast.Name
    for current in found:  # the list grows while it is read: breadth first
        kind = type(current)
        if kind is name_kind:  # the commonest node, its fields read directly
            if current.annotation is not None:
                append(current.annotation)
            continue
        names = table.get(kind)
        if names is None:
            names = _walked_fields(kind)
        if not names:
            continue
        fields = current.__dict__  # an absent optional field reads as None, as getattr would
        for name in names:
            value = fields.get(name)
            if value is None:
                continue
            if type(value) is list:
                for item in value:
                    if isinstance(item, gast.AST):
                        append(item)
            elif isinstance(value, gast.AST):
                append(value)
    return found


def statements_breadth_first(node: gast.AST) -> list[gast.stmt]:
    """The statements among ``walk(node)``, in its order, without walking expressions:
    they hold no statements, so only lists of other nodes (blocks, except clauses) are
    followed. (Every statement's ancestors are such nodes, so breadth-first order among
    them is the order ``walk`` finds them in.) For the passes whose output depends on the
    order they meet statements in (the names they make, the order of what they add), which
    was chosen as this one; the others use ``dataflow.statements``."""
    found = [node]
    append = found.append
    for current in found:
        fields = current.__dict__
        for name in current._fields:
            value = fields.get(name)
            if type(value) is list:
                for item in value:
                    if isinstance(item, gast.AST) and not isinstance(item, gast.expr):
                        append(item)
    return [n for n in found if isinstance(n, gast.stmt)]


def parents(node: gast.AST) -> dict[int, gast.AST]:
    """id of each node under ``node`` -> its parent (for a node reached twice, the parent
    found last in ``walk``'s order)."""
    found: dict[int, gast.AST] = {}
    queue = [node]
    for current in queue:
        kind = type(current)
        names = _CHILD_FIELDS.get(kind)
        if names is None:
            names = child_fields(kind)
        fields = current.__dict__
        for name in names:
            value = fields.get(name)
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, gast.AST):
                        found[id(item)] = current
                        queue.append(item)
            elif isinstance(value, gast.AST):
                found[id(value)] = current
                queue.append(value)
    return found


def is_call_on_name(node: gast.AST, functions: set[str]) -> bool:
    """Whether ``node`` is ``f(value, name)`` for an ``f`` in ``functions``: how generated
    code calls a helper such as ``unbroadcast(g, x)`` on a name."""
    return is_helper_call(node, functions, 2) and isinstance(node.args[1], gast.Name)


def is_helper_call(node: gast.AST, functions: set[str], arity: int) -> bool:
    """Whether ``node`` calls an ``f`` in ``functions`` (names of helpers generated code
    calls) with ``arity`` positional arguments and no keywords."""
    return (
        isinstance(node, gast.Call)
        and isinstance(node.func, gast.Name)
        and node.func.id in functions
        and len(node.args) == arity
        and not node.keywords
    )


Replace = Callable[[gast.AST], "gast.AST | None"]


def copy_tree(node: gast.AST, replace: Replace | None = None) -> gast.AST:
    """A copy of ``node``'s tree: new nodes, each with its own annotation dict.

    What is not a node is shared rather than copied: annotation values (origins,
    callees, stack ids) and constants are never changed in place by the passes.
    ``replace(node)``, when given, is asked first about every node, in the order a
    ``NodeTransformer`` visits them; what it returns (not None) stands in for that node's
    copy, as it is.
    """
    if replace is not None:
        replacement = replace(node)
        if replacement is not None:
            return replacement
    cls = type(node)
    attributes = dict(node.__dict__)
    names = _CHILD_FIELDS.get(cls)
    for name in names if names is not None else child_fields(cls):
        value = attributes.get(name)
        if isinstance(value, list):
            attributes[name] = [
                copy_tree(item, replace) if isinstance(item, gast.AST) else item for item in value
            ]
        elif isinstance(value, gast.AST):
            attributes[name] = copy_tree(value, replace)
    annotations = attributes.get(anno.SLOT)
    if annotations is not None:
        attributes[anno.SLOT] = dict(annotations)
    new = cls.__new__(cls)
    new.__dict__.update(attributes)
    return new


def rewrite(node: gast.AST, change: Callable[[gast.AST], gast.AST]) -> gast.AST:
    """Rewrite ``node``'s tree in place, bottom up: each node's children first, then
    ``change(node)``, whose result takes the node's place (as a ``NodeTransformer`` whose
    every ``visit_*`` method visits the children first; without its dispatch costs)."""
    fields = node.__dict__
    kind = type(node)
    names = _CHILD_FIELDS.get(kind)
    for name in names if names is not None else child_fields(kind):
        value = fields.get(name)
        if type(value) is list:
            value[:] = [
                rewrite(item, change) if isinstance(item, gast.AST) else item for item in value
            ]
        elif isinstance(value, gast.AST):
            setattr(node, name, rewrite(value, change))
    return change(node)


def without_statements(
    stmts: list[gast.stmt], dropped: Callable[[gast.stmt], bool]
) -> list[gast.stmt]:
    """``stmts`` without every statement, at any depth of ``body``/``orelse``, for which
    ``dropped`` holds; a body left empty becomes ``pass`` (the blocks change in place)."""
    kept = []
    for stmt in stmts:
        if dropped(stmt):
            continue
        for field in ("body", "orelse"):
            block = getattr(stmt, field, None)
            if block:
                rest = without_statements(block, dropped)
                setattr(stmt, field, rest or ([gast.Pass()] if field == "body" else []))
        kept.append(stmt)
    return kept
