def heat_equation_jvp(u, k, *, du, dk):
    # tangent of: n = u.shape[0]
    shape = u.shape
    n = shape[0]
    # tangent of: for _ in range(50):
    for _ in range(50):
        # tangent of: u_new = np.zeros(n)
        u_new = np.zeros(n)
        du_new = zero_tangent(u_new)
        # tangent of: for i in range(1, n - 1):
        sub = n - 1
        for i in range(1, sub):
            # tangent of: u_new[i] = u[i] + k * (u[i - 1] - 2 * u[i] + u[i + 1])
            u_item = u[i]
            du_item = du[i]
            sub_2 = i - 1
            u_item_2 = u[sub_2]
            du_item_2 = du[sub_2]
            u_item_3 = u[i]
            du_item_3 = du[i]
            mul = 2 * u_item_3
            dmul = du_item_3 * 2
            sub_3 = u_item_2 - mul
            dsub_3 = du_item_2 - dmul
            add = i + 1
            u_item_4 = u[add]
            du_item_4 = du[add]
            add_2 = sub_3 + u_item_4
            dadd_2 = dsub_3 + du_item_4
            mul_2 = k * add_2
            dmul_2 = dk * add_2 + dadd_2 * k
            add_3 = u_item + mul_2
            dadd_3 = du_item + dmul_2
            du_new = writable_tangent(du_new, u_new)
            u_new[i] = add_3
            du_new[i] = dadd_3
        # tangent of: u = u_new
        u = u_new
        du = du_new
    # tangent of: return np.sum(u * u)
    mul_3 = u * u
    dmul_3 = 2 * du * u
    total = np.sum(mul_3)
    dtotal = np.sum(dmul_3)
    return total, tangent_out(dtotal, total)
