def particle_steps_jvp(p, dt, *, dp, ddt):
    # tangent of: self.v = self.v - dt * self.x
    unshared_object(('p',), p)
    # tangent of: for _ in range(10):
    for _ in range(10):
        # tangent of: p.step(dt)
        step_dt = dt
        dstep_dt = ddt
        # tangent of: self.v = self.v - dt * self.x
        p_v = p.v
        dp_v = field_tangent(dp, 'v')
        p_x = p.x
        dp_x = field_tangent(dp, 'x')
        mul = step_dt * p_x
        dmul = dstep_dt * p_x + dp_x * step_dt
        sub = p_v - mul
        dsub = dp_v - dmul
        p_new = set_field(p, 'v', sub)
        dp = tangent_with_field(dp, p, 'v', dsub)
        p = p_new
        # tangent of: self.x = self.x + dt * self.v
        p_x_2 = p.x
        dp_x_2 = field_tangent(dp, 'x')
        p_v_2 = p.v
        dp_v_2 = field_tangent(dp, 'v')
        mul_2 = step_dt * p_v_2
        dmul_2 = dstep_dt * p_v_2 + dp_v_2 * step_dt
        add = p_x_2 + mul_2
        dadd = dp_x_2 + dmul_2
        p_new_2 = set_field(p, 'x', add)
        dp = tangent_with_field(dp, p, 'x', dadd)
        p = p_new_2
    # tangent of: return np.sum(p.x**2)
    p_x_3 = p.x
    dp_x_3 = field_tangent(dp, 'x')
    power = p_x_3 ** 2
    dpower = dp_x_3 * 2 * p_x_3
    total = np.sum(power)
    dtotal = np.sum(dpower)
    return total, tangent_out(dtotal, total)
