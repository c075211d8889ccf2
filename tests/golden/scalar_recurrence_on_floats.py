def scalar_recurrence_grad(a):
    stack = []
    push = stack.append
    for _ in range(100):
        push(a)
        a = a * 0.99 + 0.01 * a * a
    result = a
    pop = stack.pop
    da = scalar_seed(a)
    # grad of: for _ in range(100):
    for _ in range(100):
        # grad of: a = a * 0.99 + 0.01 * a * a
        a = pop()
        da = da * (0.02 * a + 0.99)
    return result, da
