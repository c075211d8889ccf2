def scalar_recurrence_grad(a):
    mul = None
    mul_2 = None
    mul_3 = None
    stack = []
    push = stack.append
    iterations = 0
    for _ in range(100):
        iterations += 1
        push(mul)
        mul = a * 0.99
        push(mul_2)
        mul_2 = 0.01 * a
        push(mul_3)
        mul_3 = mul_2 * a
        push(a)
        a = mul + mul_3
    push(iterations)
    result = a
    pop = stack.pop
    da = scalar_seed(a)
    # grad of: for _ in range(100):
    for _ in range(pop()):
        # grad of: a = a * 0.99 + 0.01 * a * a
        dmul = unbroadcast(da, mul)
        dmul_3 = unbroadcast(da, mul_3)
        a = pop()
        dmul_2 = unbroadcast(dmul_3 * a, mul_2)
        da = unbroadcast(dmul_3 * mul_2, a)
        mul_3 = pop()
        da = da + dmul_2 * 0.01
        mul_2 = pop()
        da = da + dmul * 0.99
        mul = pop()
    return result, da
