def scalar_recurrence_grad(a):
    mul_2 = None
    stack = []
    push = stack.append
    iterations = 0
    for _ in range(100):
        iterations += 1
        push(mul_2)
        mul_2 = 0.01 * a
        push(a)
        a = a * 0.99 + mul_2 * a
    push(iterations)
    result = a
    pop = stack.pop
    da = scalar_seed(a)
    # grad of: for _ in range(100):
    for _ in range(pop()):
        # grad of: a = a * 0.99 + 0.01 * a * a
        dmul = da
        a = pop()
        dmul_2 = da * a
        da = da * mul_2
        da = da + dmul_2 * 0.01
        mul_2 = pop()
        da = da + dmul * 0.99
    return result, da
