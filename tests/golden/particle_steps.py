def particle_steps_grad(p, dt):
    mul = None
    mul_2 = None
    p_v = None
    p_v_2 = None
    p_x = None
    p_x_2 = None
    step_dt = None
    stack = []
    push = stack.append
    unshared_object(('p',), p)
    for _ in range(10):
        push(step_dt)
        step_dt = dt
        push(shaped_like(p_v))
        p_v = p.v
        push(p_x)
        p_x = p.x
        push(shaped_like(mul))
        mul = step_dt * p_x
        p = set_field(p, 'v', p_v - mul)
        push(shaped_like(p_x_2))
        p_x_2 = p.x
        push(p_v_2)
        p_v_2 = p.v
        push(shaped_like(mul_2))
        mul_2 = step_dt * p_v_2
        p = set_field(p, 'x', p_x_2 + mul_2)
    p_x_3 = p.x
    total = np.sum(p_x_3 ** 2)
    pop = stack.pop
    mul_shape = shaped_like(mul)
    mul_2_shape = shaped_like(mul_2)
    p_v_shape = shaped_like(p_v)
    p_x_2_shape = shaped_like(p_x_2)
    dtotal = scalar_seed(total)
    ddt = 0
    # grad of: return np.sum(p.x**2)
    dp = add_field(0, p, 'x', dtotal * 2 * p_x_3)
    del p_x_3
    # grad of: for _ in range(10):
    for _ in reversed(range(10)):
        # grad of: self.x = self.x + dt * self.v
        dadd = adjoint_item(dp, 'x')
        dp = without_field(dp, 'x')
        dp_x_2 = unbroadcast(dadd, p_x_2_shape)
        dmul_2 = unbroadcast(dadd, mul_2_shape)
        dstep_dt = unbroadcast(dmul_2 * p_v_2, step_dt)
        dp_v_2 = unbroadcast(dmul_2 * step_dt, p_v_2)
        mul_2_shape = pop()
        dp = add_field(dp, p, 'v', dp_v_2)
        p_v_2 = pop()
        dp = add_field(dp, p, 'x', dp_x_2)
        p_x_2_shape = pop()
        # grad of: self.v = self.v - dt * self.x
        dsub = adjoint_item(dp, 'v')
        dp = without_field(dp, 'v')
        dp_v = unbroadcast(dsub, p_v_shape)
        dmul = -unbroadcast(dsub, mul_shape)
        dstep_dt = dstep_dt + unbroadcast(dmul * p_x, step_dt)
        dp_x = unbroadcast(dmul * step_dt, p_x)
        mul_shape = pop()
        dp = add_field(dp, p, 'x', dp_x)
        p_x = pop()
        dp = add_field(dp, p, 'v', dp_v)
        p_v_shape = pop()
        # grad of: p.step(dt)
        ddt = ddt + dstep_dt
        step_dt = pop()
    return total, (dp, ddt)
