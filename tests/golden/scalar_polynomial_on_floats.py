def scalar_polynomial_grad(a, b):
    c = None
    stack = []
    push = stack.append
    for _ in range(3):
        push(c)
        c = 0.5 * a * b + a * 0.1
        push(a)
        a = c * 0.9 + 0.05 * c * b
        push(b)
        b = b - 0.2 * a * a
    mul_9 = a * b
    pop = stack.pop
    dmul_9 = scalar_seed(mul_9)
    # grad of: return a * b
    da = dmul_9 * b
    db = dmul_9 * a
    # grad of: for _ in range(3):
    for _ in reversed(range(3)):
        # grad of: b = b - 0.2 * a * a
        b = pop()
        da = da - 0.4 * db * a
        # grad of: a = c * 0.9 + 0.05 * c * b
        a = pop()
        db = db + da * (0.05 * c)
        dc = da * (0.05 * b + 0.9)
        # grad of: c = 0.5 * a * b + a * 0.1
        c = pop()
        da = dc * (0.1 + 0.5 * b)
        db = db + dc * (0.5 * a)
    return mul_9, (da, db)
