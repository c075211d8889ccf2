def mlp_loss_jvp(W1, b1, W2, b2, x, y, *, dW1, db1, dW2, db2):
    # tangent of: h = dense(x, W1, b1)
    h, dh = dense_jvp(x, W1, b1, dW=dW1, db=db1)
    # tangent of: out = h @ W2 + b2
    matmul = h @ W2
    dmatmul = dh @ W2 + h @ dW2
    out = matmul + b2
    dout = dmatmul + db2
    # tangent of: return np.mean((out - y) ** 2)
    sub = out - y
    dsub = spread_tangent(dout, sub)
    power = sub ** 2
    dpower = dsub * 2 * sub
    mean = np.mean(power)
    dmean = mean_tangent(dpower)
    return mean, tangent_out(dmean, mean)

def dense_jvp(x, W, b, *, dW, db):
    # tangent of: return np.tanh(x @ W + b)
    matmul = x @ W
    dmatmul = x @ dW
    add = matmul + b
    dadd = dmatmul + db
    tanh = np.tanh(add)
    dtanh = dadd * (1 - tanh * tanh)
    return tanh, tangent_out(dtanh, tanh)
