def mlp_listed_grad(params, x):
    W1, b1, W2, b2 = params
    dot = np.dot(x, W1)
    h = np.tanh(dot + b1)
    tensordot = np.tensordot(h, W2, axes=1)
    out = tensordot + b2
    power = out ** 2
    mean = np.mean(power)
    dmean = scalar_seed(mean)
    # grad of: return np.mean(out**2)
    dpower = dmean / reduced_count(power)
    dout = dpower * 2 * out
    del dpower, out, power
    # grad of: out = np.tensordot(h, W2, axes=1) + b2
    dtensordot = unbroadcast(dout, tensordot)
    db2 = unbroadcast(dout, b2)
    dh = dtensordot.dot(W2.T)
    dW2 = h.T.dot(dtensordot)
    del W2, b2, dout, dtensordot, tensordot
    # grad of: h = np.tanh(np.dot(x, W1) + b1)
    dadd = dh * (1 - h * h)
    ddot = unbroadcast(dadd, dot)
    db1 = unbroadcast(dadd, b1)
    dW1 = x.T.dot(ddot)
    del b1, dadd, ddot, dh, dot, h
    # grad of: W1, b1, W2, b2 = params
    dparams = [dW1, db1, dW2, db2]
    return mean, dparams
