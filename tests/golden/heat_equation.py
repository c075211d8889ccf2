def heat_equation_grad(u, k):
    add_2 = None
    sub = None
    u_new = None
    stack = []
    push = stack.append
    n = u.shape[0]
    for _ in range(50):
        push(u_new)
        u_new = np.zeros(n)
        push(sub)
        sub = n - 1
        for i in range(1, sub):
            push(add_2)
            add_2 = u[i - 1] - 2 * u[i] + u[i + 1]
            u_new[i] = u[i] + k * add_2
        push(u)
        u = u_new
    mul_3 = u * u
    total = np.sum(mul_3)
    pop = stack.pop
    dtotal = scalar_seed(total)
    dk = 0
    # grad of: return np.sum(u * u)
    dmul_3 = expand_reduced(dtotal, mul_3)
    du = 2 * dmul_3 * u
    del dmul_3, mul_3
    # grad of: for _ in range(50):
    for _ in reversed(range(50)):
        # grad of: u = u_new
        du_new = du
        u = pop()
        du = 0
        # grad of: for i in range(1, n - 1):
        du = gradient_buffer(du, u)
        du_new = gradient_buffer(du_new, u_new)
        for i in reversed(range(1, sub)):
            # grad of: u_new[i] = u[i] + k * (u[i - 1] - 2 * u[i] + u[i + 1])
            du_new_item = du_new[i]
            du_new[i] = 0
            dk = dk + du_new_item * add_2
            dadd_2 = du_new_item * k
            add_2 = pop()
            du[i + 1] = du[i + 1] + dadd_2
            du_item_3 = -dadd_2 * 2
            du[i] = du[i] + du_item_3
            du[i - 1] = du[i - 1] + dadd_2
            du[i] = du[i] + du_new_item
        sub = pop()
        # grad of: u_new = np.zeros(n)
        u_new = pop()
    return total, (du, dk)
