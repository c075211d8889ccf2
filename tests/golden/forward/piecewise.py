def piecewise_jvp(x, t, *, dx):
    # tangent of: if x > t:
    cond = x > t
    if cond:
        # tangent of: y = math.exp(x - t)
        sub = x - t
        dsub = spread_tangent(dx, sub)
        y = math.exp(sub)
        dy = dsub * y
    else:
        # tangent of: y = 1.0 + (x - t)
        sub_2 = x - t
        dsub_2 = spread_tangent(dx, sub_2)
        y = 1.0 + sub_2
        dy = dsub_2
    # tangent of: return y * x
    mul = y * x
    dmul = dy * x + dx * y
    return mul, tangent_out(dmul, mul)
