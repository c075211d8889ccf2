def logistic_loss_grad(W, b, x, y):
    matmul = x @ W
    exp = np.exp(-(matmul + b))
    p = 1 / (1 + exp)
    log = np.log(p)
    sub = 1 - y
    sub_2 = 1 - p
    log_2 = np.log(sub_2)
    add_3 = y * log + sub * log_2
    neg_2 = -np.mean(add_3)
    dneg_2 = scalar_seed(neg_2)
    # grad of: return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    dadd_3 = expand_reduced(-dneg_2 / reduced_count(add_3), add_3)
    dlog_2 = unbroadcast(dadd_3 * sub, log_2)
    dp = -dlog_2 / sub_2
    dlog = unbroadcast(dadd_3 * y, log)
    dp = dp + dlog / p
    del add_3, dadd_3, dlog, dlog_2, log, log_2, sub, sub_2
    # grad of: p = 1 / (1 + np.exp(-(x @ W + b)))
    dadd = dp * p * p * exp
    dmatmul = unbroadcast(dadd, matmul)
    db = unbroadcast(dadd, b)
    dW = matmul_grad_right(dmatmul, x, W)
    return neg_2, (dW, db)
