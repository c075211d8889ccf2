def softmax_cross_entropy_grad(z, onehot):
    z = z - np.max(z, axis=1, keepdims=True)
    exp = np.exp(z)
    total = np.sum(exp, axis=1, keepdims=True)
    log = np.log(total)
    log_probs = z - log
    mul = onehot * log_probs
    total_2 = np.sum(mul, axis=1)
    neg = -np.mean(total_2)
    dneg = scalar_seed(neg)
    # grad of: return -np.mean(np.sum(onehot * log_probs, axis=1))
    dtotal_2 = expand_reduced(-dneg / reduced_count(total_2), total_2)
    dmul = expand_reduced(dtotal_2, mul, 1)
    dlog_probs = unbroadcast(dmul * onehot, log_probs)
    del dmul, dtotal_2, log_probs, mul, total_2
    # grad of: log_probs = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    dz = dlog_probs
    dlog = -unbroadcast(dlog_probs, log)
    dz = dz + dlog / total * exp
    return neg, dz
