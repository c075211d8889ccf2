def scalar_recurrence_grad(a):
    mul_2 = None
    stack = []
    push = stack.append
    for _ in range(100):
        push(mul_2)
        mul_2 = 0.01 * a
        push(a)
        a = a * 0.99 + mul_2 * a
    result = a
    pop = stack.pop
    da = scalar_seed(a)
    # grad of: for _ in range(100):
    for _ in reversed(range(100)):
        # grad of: a = a * 0.99 + 0.01 * a * a
        a = pop()
        da = da * (mul_2 + 0.01 * a + 0.99)
        mul_2 = pop()
    return result, da
