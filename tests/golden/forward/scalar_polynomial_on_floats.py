def scalar_polynomial_jvp(a, b, *, da, db):
    # tangent of: for _ in range(3):
    for _ in range(3):
        # tangent of: c = 0.5 * a * b + a * 0.1
        mul = 0.5 * a
        dmul = da * 0.5
        mul_2 = mul * b
        dmul_2 = dmul * b + db * mul
        mul_3 = a * 0.1
        dmul_3 = da * 0.1
        c = mul_2 + mul_3
        dc = dmul_2 + dmul_3
        # tangent of: a = c * 0.9 + 0.05 * c * b
        mul_4 = c * 0.9
        dmul_4 = dc * 0.9
        mul_5 = 0.05 * c
        dmul_5 = dc * 0.05
        mul_6 = mul_5 * b
        dmul_6 = dmul_5 * b + db * mul_5
        a = mul_4 + mul_6
        da = dmul_4 + dmul_6
        # tangent of: b = b - 0.2 * a * a
        mul_7 = 0.2 * a
        dmul_7 = da * 0.2
        mul_8 = mul_7 * a
        dmul_8 = dmul_7 * a + da * mul_7
        db = db - dmul_8
        b = b - mul_8
    # tangent of: return a * b
    mul_9 = a * b
    dmul_9 = da * b + db * a
    return mul_9, tangent_out(dmul_9, mul_9)
