def piecewise_grad(x, t):
    cond = x > t
    if cond:
        y = math.exp(x - t)
    else:
        y = 1.0 + (x - t)
    mul = y * x
    dmul = scalar_seed(mul)
    # grad of: return y * x
    dy = unbroadcast(dmul * x, y)
    dx = unbroadcast(dmul * y, x)
    del dmul
    # grad of: if x > t:
    if cond:
        # grad of: y = math.exp(x - t)
        dx = dx + unbroadcast(dy * y, x)
    else:
        # grad of: y = 1.0 + (x - t)
        dx = dx + unbroadcast(dy, x)
    return mul, dx
