def mlp_listed_jvp(params, x, *, dparams):
    # tangent of: W1, b1, W2, b2 = params
    dW1, db1, dW2, db2 = dparams
    W1, b1, W2, b2 = params
    # tangent of: h = np.tanh(np.dot(x, W1) + b1)
    dot = np.dot(x, W1)
    ddot = np.dot(x, dW1)
    add = dot + b1
    dadd = ddot + db1
    h = np.tanh(add)
    dh = dadd * (1 - h * h)
    # tangent of: out = np.tensordot(h, W2, axes=1) + b2
    tensordot = np.tensordot(h, W2, axes=1)
    dtensordot = np.tensordot(dh, W2, 1) + np.tensordot(h, dW2, 1)
    out = tensordot + b2
    dout = dtensordot + db2
    # tangent of: return np.mean(out**2)
    power = out ** 2
    dpower = dout * 2 * out
    mean = np.mean(power)
    dmean = mean_tangent(dpower)
    return mean, tangent_out(dmean, mean)
