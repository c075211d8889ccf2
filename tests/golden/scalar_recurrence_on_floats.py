def scalar_recurrence_grad(a):
    stack = []
    push = stack.append
    for _ in range(100):
        push(a)
        a = a * 0.99 + 0.01 * a * a
    result = a
    da = scalar_seed(a)
    # grad of: for _ in range(100):
    for a in pop_run(stack, 100):
        # grad of: a = a * 0.99 + 0.01 * a * a
        da = da * (0.02 * a + 0.99)
    return result, da
