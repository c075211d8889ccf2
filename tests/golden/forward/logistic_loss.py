def logistic_loss_jvp(W, b, x, y, *, dW, db):
    # tangent of: p = 1 / (1 + np.exp(-(x @ W + b)))
    matmul = x @ W
    dmatmul = x @ dW
    add = matmul + b
    dadd = dmatmul + db
    neg = -add
    dneg = -dadd
    exp = np.exp(neg)
    dexp = dneg * exp
    add_2 = 1 + exp
    dadd_2 = dexp
    p = 1 / add_2
    dp = -dadd_2 * p / add_2
    # tangent of: return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    log = np.log(p)
    dlog = dp / p
    mul = y * log
    dmul = spread_tangent(dlog * y, mul)
    sub = 1 - y
    sub_2 = 1 - p
    dsub_2 = -dp
    log_2 = np.log(sub_2)
    dlog_2 = dsub_2 / sub_2
    mul_2 = sub * log_2
    dmul_2 = spread_tangent(dlog_2 * sub, mul_2)
    add_3 = mul + mul_2
    dadd_3 = dmul + dmul_2
    mean = np.mean(add_3)
    dmean = mean_tangent(dadd_3)
    neg_2 = -mean
    dneg_2 = -dmean
    return neg_2, tangent_out(dneg_2, neg_2)
