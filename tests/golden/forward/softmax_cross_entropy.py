def softmax_cross_entropy_jvp(z, onehot, *, dz):
    # tangent of: z = z - np.max(z, axis=1, keepdims=True)
    largest = np.max(z, axis=1, keepdims=True)
    hits = z == np.max(z, axis=1, keepdims=True)
    ties = np.sum(hits, axis=1, keepdims=True, dtype=largest.dtype)
    dlargest = np.sum(dz * hits, axis=1, keepdims=True) / ties
    dz = dz - dlargest
    z = z - largest
    # tangent of: log_probs = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    exp = np.exp(z)
    dexp = dz * exp
    total = np.sum(exp, axis=1, keepdims=True)
    dtotal = np.sum(dexp, axis=1, keepdims=True)
    log = np.log(total)
    dlog = dtotal / total
    log_probs = z - log
    dlog_probs = dz - dlog
    # tangent of: return -np.mean(np.sum(onehot * log_probs, axis=1))
    mul = onehot * log_probs
    dmul = spread_tangent(dlog_probs * onehot, mul)
    total_2 = np.sum(mul, axis=1)
    dtotal_2 = np.sum(dmul, axis=1)
    mean = np.mean(total_2)
    dmean = mean_tangent(dtotal_2)
    neg = -mean
    dneg = -dmean
    return neg, tangent_out(dneg, neg)
