def scalar_polynomial_grad(a, b):
    mul = None
    mul_5 = None
    stack = []
    push = stack.append
    for _ in range(3):
        push(mul)
        mul = 0.5 * a
        c = mul * b + a * 0.1
        push(mul_5)
        mul_5 = 0.05 * c
        push(a)
        a = c * 0.9 + mul_5 * b
        push(b)
        b = b - 0.2 * a * a
    mul_9 = a * b
    pop = stack.pop
    dmul_9 = scalar_seed(mul_9)
    # grad of: return a * b
    da = dmul_9 * b
    db = dmul_9 * a
    # grad of: for _ in range(3):
    for _ in range(3):
        # grad of: b = b - 0.2 * a * a
        b = pop()
        dmul_8 = -db
        da = da + 0.4 * dmul_8 * a
        # grad of: a = c * 0.9 + 0.05 * c * b
        a = pop()
        db = db + da * mul_5
        dc = da * (0.05 * b + 0.9)
        mul_5 = pop()
        # grad of: c = 0.5 * a * b + a * 0.1
        da = dc * (0.1 + 0.5 * b)
        db = db + dc * mul
        mul = pop()
    return mul_9, (da, db)
