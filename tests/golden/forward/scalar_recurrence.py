def scalar_recurrence_jvp(a, *, da):
    # tangent of: for _ in range(100):
    for _ in range(100):
        # tangent of: a = a * 0.99 + 0.01 * a * a
        mul = a * 0.99
        dmul = da * 0.99
        mul_2 = 0.01 * a
        dmul_2 = da * 0.01
        mul_3 = mul_2 * a
        dmul_3 = dmul_2 * a + da * mul_2
        a = mul + mul_3
        da = dmul + dmul_3
    return a, tangent_out(da, a)
