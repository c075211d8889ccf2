"""Rules for reading and assigning through subscripts."""

import operator

from ..primitives import assign_index
from .helpers import assigned_value_grad, scatter_grad, unbroadcast, without_index
from .registry import vjp_rule


@vjp_rule(operator.getitem, name="getitem")
def getitem(g, ans, x, index):
    return scatter_grad(g, x, index)


@vjp_rule(assign_index)
def assign_index_vjp(g, ans, x, index, value):
    return without_index(g, index), None, unbroadcast(assigned_value_grad(g, index), value)
