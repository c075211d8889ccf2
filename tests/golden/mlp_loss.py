def mlp_loss_grad(W1, b1, W2, b2, x, y):
    h, dense_saved = dense_forward(x, W1, b1)
    matmul = h @ W2
    out = matmul + b2
    sub = out - y
    power = sub ** 2
    mean = np.mean(power)
    dmean = scalar_seed(mean)
    # grad of: return np.mean((out - y) ** 2)
    dpower = dmean / reduced_count(power)
    dout = unbroadcast(dpower * 2 * sub, out)
    del dpower, out, power, sub
    # grad of: out = h @ W2 + b2
    dmatmul = unbroadcast(dout, matmul)
    db2 = unbroadcast(dout, b2)
    dh = matmul_grad_left(dmatmul, h, W2)
    dW2 = matmul_grad_right(dmatmul, h, W2)
    del dmatmul, dout, h, matmul
    # grad of: h = dense(x, W1, b1)
    dW1, db1 = dense_backward(dense_saved, dh)
    return mean, (dW1, db1, dW2, db2)

def dense_forward(x, W, b):
    matmul = x @ W
    tanh = np.tanh(matmul + b)
    return tanh, (W, b, matmul, tanh, x)

def dense_backward(saved, dtanh):
    W, b, matmul, tanh, x = saved
    # grad of: return np.tanh(x @ W + b)
    dadd = dtanh * (1 - tanh * tanh)
    dmatmul = unbroadcast(dadd, matmul)
    db = unbroadcast(dadd, b)
    dW = matmul_grad_right(dmatmul, x, W)
    return dW, db
