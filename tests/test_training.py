"""nnutils.training against PyTorch (functions, modules and optimisers with copied weights),
numerical gradients (float64, relative error via nnutils.gradcheck) and the notes' numbers."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nnutils import functions, loop, training as tr
from nnutils.gradcheck import numerical_gradient, rel_error

TORCH_ACT = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
    "elu": lambda x: F.elu(x, 1.0),
    "swish": F.silu,
}


def _points():
    x = np.linspace(-6, 6, 101)
    return x[np.abs(x) > 1e-9]          # away from the kink at 0 (numerical check)


@pytest.mark.parametrize("name", sorted(tr.ACTIVATIONS))
def test_activation_and_derivative_vs_torch_and_numerical(name):
    f, df = tr.ACTIVATIONS[name]
    x = _points()
    tx = torch.tensor(x, requires_grad=True)
    y = TORCH_ACT[name](tx)
    y.sum().backward()
    assert rel_error(f(x), y.detach().numpy()) < 1e-12
    assert rel_error(df(x), tx.grad.numpy()) < 1e-10      # 1 - tanh^2 cancels where tanh saturates
    h = 1e-5
    num = (f(x + h) - f(x - h)) / (2 * h)        # elementwise centred difference
    assert rel_error(df(x), num) < 1e-7


def test_activation_parameters_and_extremes():
    x = np.array([-3.0, 2.0])
    assert np.allclose(tr.leaky_relu(x, 0.2), F.leaky_relu(torch.tensor(x), 0.2).numpy())
    assert np.allclose(tr.elu(x, 0.5), F.elu(torch.tensor(x), 0.5).numpy())
    assert np.allclose(tr.elu_grad(x, 0.5), [0.5 * np.exp(-3.0), 1.0])
    assert np.allclose(tr.swish(x, 2.0), x / (1 + np.exp(-2 * x)))
    tx = torch.tensor(x, requires_grad=True)
    (tx * torch.sigmoid(2.0 * tx)).sum().backward()
    assert rel_error(tr.swish_grad(x, 2.0), tx.grad.numpy()) < 1e-12
    tx = torch.tensor(x, requires_grad=True)
    F.leaky_relu(tx, 0.2).sum().backward()
    assert rel_error(tr.leaky_relu_grad(x, 0.2), tx.grad.numpy()) < 1e-12
    big = np.array([-1000.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):   # no overflow at the extremes
        assert np.array_equal(tr.sigmoid_grad(big), [0.0, 0.0])
        assert np.allclose(tr.elu(big), [-1.0, 1000.0])
    assert tr.sigmoid_grad(np.array([0.0]))[0] == 0.25          # the sigmoid's largest slope


def test_shared_activations_are_the_functions_module_ones():
    """One definition per primitive: the table uses nnutils.functions' sigmoid and relu."""
    assert tr.ACTIVATIONS["sigmoid"][0] is functions.sigmoid
    assert tr.ACTIVATIONS["relu"][0] is functions.relu


def test_unknown_activation_is_a_clear_value_error():
    params = tr.mlp_init([3, 4, 2], seed=0)
    X, y = np.ones((5, 3)), np.zeros(5, dtype=int)
    for call in [lambda: tr.mlp_forward(X, params, "tanhh"),
                 lambda: tr.mlp_loss_and_grads(params, X, y, "ReLU"),
                 lambda: tr.mlp_predict(params, X, "softplus")]:
        with pytest.raises(ValueError, match="unknown activation") as err:
            call()
        for name in tr.ACTIVATIONS:                            # the message lists the names
            assert name in str(err.value)
    _, caches = tr.mlp_forward(X, params, "tanh")
    with pytest.raises(ValueError, match="unknown activation"):
        tr.mlp_backward(np.ones((5, 2)), caches, "tahn")


def test_relu_grad_at_zero_matches_torch():
    tx = torch.tensor([0.0, -0.0], dtype=torch.float64, requires_grad=True)
    torch.relu(tx).sum().backward()
    assert np.array_equal(tr.relu_grad(np.array([0.0, -0.0])), tx.grad.numpy())


def test_maxout_vs_loop_and_numerical():
    rng = np.random.default_rng(0)
    N, D, M, K = 5, 4, 3, 2
    X, W, b = rng.normal(size=(N, D)), rng.normal(size=(K, M, D)), rng.normal(size=(K, M))
    out, cache = tr.maxout_forward(X, W, b)
    loop = np.array([[max(X[n] @ W[k, m] + b[k, m] for k in range(K)) for m in range(M)] for n in range(N)])
    assert out.shape == (N, M) and np.allclose(out, loop)
    dout = rng.normal(size=(N, M))
    dX, dW, db = tr.maxout_backward(dout, cache)
    assert (dX.shape, dW.shape, db.shape) == (X.shape, W.shape, b.shape)
    f = lambda: float(np.sum(tr.maxout_forward(X, W, b)[0] * dout))  # noqa: E731
    for g, p in [(dX, X), (dW, W), (db, b)]:
        assert rel_error(g, numerical_gradient(f, p)) < 1e-7
    # maxout with pieces (x, 0) is ReLU, with (x, 0.1x) leaky ReLU
    x = np.linspace(-2, 2, 9)[:, None]
    relu_out, _ = tr.maxout_forward(x, np.array([[[1.0]], [[0.0]]]), np.zeros((2, 1)))
    assert np.allclose(relu_out[:, 0], functions.relu(x[:, 0]))


def test_preprocess_uses_training_statistics():
    rng = np.random.default_rng(1)
    X_tr = rng.normal(loc=[5.0, -2.0, 0.0], scale=[3.0, 0.5, 1.0], size=(200, 3))
    X_tr[:, 2] = 7.0                                          # a constant column
    X_te = rng.normal(loc=[5.0, -2.0, 0.0], size=(50, 3))
    s_tr, s_te = tr.preprocess(X_tr, X_te, method="standardize")
    assert np.allclose(s_tr[:, :2].mean(axis=0), 0) and np.allclose(s_tr[:, :2].std(axis=0), 1)
    assert np.allclose(s_tr[:, 2], 0)                         # constant: shifted, not divided by 0
    assert np.allclose(s_te[:, :2], (X_te[:, :2] - X_tr[:, :2].mean(0)) / X_tr[:, :2].std(0))
    m_tr, m_te = tr.preprocess(X_tr, X_te, method="minmax")
    assert np.allclose(m_tr[:, :2].min(0), 0) and np.allclose(m_tr[:, :2].max(0), 1)
    assert np.allclose(m_te, (X_te - X_tr.min(0)) / np.where(np.ptp(X_tr, 0) > 0, np.ptp(X_tr, 0), 1))
    (c_tr,) = tr.preprocess(X_tr, method="center")
    assert np.allclose(c_tr.mean(0), 0) and np.allclose(c_tr.std(0), X_tr.std(0))
    with pytest.raises(ValueError):
        tr.preprocess(X_tr, method="nope")


# torch.nn.init's normal initialisers on a torch weight of the same layout (n_out, n_in): they
# read fan_in = n_in from axis 1 and fan_out = n_out from axis 0. LeCun's std sqrt(1/fan_in) is
# kaiming_normal_ with the gain of a linear layer, 1.
TORCH_INIT = {
    "lecun": lambda W: torch.nn.init.kaiming_normal_(W, nonlinearity="linear"),
    "xavier": torch.nn.init.xavier_normal_,
    "he": lambda W: torch.nn.init.kaiming_normal_(W, nonlinearity="relu"),
}


@pytest.mark.parametrize("method", sorted(TORCH_INIT))
@pytest.mark.parametrize("n_in, n_out", [(400, 100), (100, 400), (300, 300)])
def test_init_std_vs_torch_nn_init(method, n_in, n_out):
    W = tr.init_weights(n_in, n_out, method, rng=0)
    assert W.shape == (n_out, n_in)
    torch.manual_seed(0)
    tW = TORCH_INIT[method](torch.empty(n_out, n_in, dtype=torch.float64))
    # torch's formula, from its own gain and fans
    fan_in, fan_out = tW.shape[1], tW.shape[0]
    if method == "xavier":
        want = torch.nn.init.calculate_gain("linear") * np.sqrt(2.0 / (fan_in + fan_out))
    else:
        gain = torch.nn.init.calculate_gain("linear" if method == "lecun" else "relu")
        want = gain / np.sqrt(fan_in)
    # 40 000 draws: the sample std is within 1 % of the true one (its relative sd is 0.35 %)
    assert abs(tW.std().item() / want - 1) < 0.01, "the reference formula itself"
    assert abs(W.std() / want - 1) < 0.01 and abs(W.mean()) < 0.02 * want


def test_init_xavier_is_glorot_not_lecun():
    """Xavier (Glorot & Bengio 2010) is Var = 2 / (n_in + n_out); 1 / n_in is LeCun's."""
    rng_draws = np.random.default_rng(0).standard_normal((100, 400))
    assert np.allclose(tr.init_weights(400, 100, "xavier", rng=0), np.sqrt(2 / 500) * rng_draws)
    assert np.allclose(tr.init_weights(400, 100, "lecun", rng=0), np.sqrt(1 / 400) * rng_draws)
    assert np.allclose(tr.init_weights(400, 100, "he", rng=0), np.sqrt(2 / 400) * rng_draws)
    assert np.allclose(tr.init_weights(400, 100, "small", rng=0), 0.01 * rng_draws)
    with pytest.raises(ValueError, match="unknown init method.*lecun"):
        tr.init_weights(4, 3, "glorot")


def test_dropout_forward_backward():
    X = np.ones((400, 500))
    out, mask = tr.dropout_forward(X, 0.3, train=True, rng=0)
    assert abs((out == 0).mean() - 0.3) < 0.01, "about p of the units dropped"
    assert np.allclose(out[out != 0], 1 / 0.7), "survivors scaled by 1/(1-p)"
    assert abs(out.mean() - 1.0) < 0.01, "expectation preserved (inverted dropout)"
    test_out, test_mask = tr.dropout_forward(X, 0.3, train=False)
    assert test_out is X and test_mask is None
    dout = np.random.default_rng(1).normal(size=X.shape)
    assert np.array_equal(tr.dropout_backward(dout, mask), dout * mask)
    # with the mask fixed, dropout is linear: compare to the numerical gradient
    x = np.random.default_rng(2).normal(size=(3, 4))
    o, m = tr.dropout_forward(x, 0.5, rng=3)
    d = np.random.default_rng(4).normal(size=x.shape)
    num = numerical_gradient(lambda: float(np.sum(x * m * d)), x)
    assert rel_error(tr.dropout_backward(d, m), num) < 1e-8


def test_dropout_matches_torch_given_torchs_mask():
    torch.manual_seed(0)
    x = torch.randn(50, 40, dtype=torch.float64, requires_grad=True)
    y = F.dropout(x, p=0.25, training=True)
    torch_mask = (y / x).detach().numpy()                      # 0 or 1/(1-p)
    assert set(np.unique(np.round(torch_mask, 12))) <= {0.0, round(1 / 0.75, 12)}
    dout = torch.randn_like(x)
    y.backward(dout)
    assert rel_error(tr.dropout_backward(dout.numpy(), torch_mask), x.grad.numpy()) < 1e-12


def test_dropout_p_one_gives_zeros_and_invalid_p_raises_like_torch():
    X = np.random.default_rng(0).normal(size=(4, 5))
    out, mask = tr.dropout_forward(X, 1.0, rng=0)
    want = F.dropout(torch.tensor(X), p=1.0, training=True).numpy()
    assert np.array_equal(out, want) and not np.isnan(out).any(), "all dropped: zeros, not 0/0"
    assert np.array_equal(tr.dropout_backward(np.ones_like(X), mask), np.zeros_like(X))
    for p in [1.5, -0.5]:
        with pytest.raises(ValueError):                       # the reference refuses these too
            F.dropout(torch.tensor(X), p=p, training=True)
        for train in [True, False]:
            with pytest.raises(ValueError, match="probability"):
                tr.dropout_forward(X, p, train=train)


def test_mlp_forward_without_layers_raises():
    X = np.ones((3, 4))
    with pytest.raises(ValueError, match="params"):
        tr.mlp_forward(X, [])
    W1, b1, W2, _ = tr.mlp_init([4, 5, 2])
    with pytest.raises(ValueError, match="params"):          # a W without its b
        tr.mlp_forward(X, [W1, b1, W2])


def _torch_mlp(params, activation, sizes):
    layers = []
    for i in range(len(sizes) - 1):
        lin = torch.nn.Linear(sizes[i], sizes[i + 1]).double()
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(params[2 * i]))
            lin.bias.copy_(torch.tensor(params[2 * i + 1]))
        layers.append(lin)
    def forward(x):
        for i, lin in enumerate(layers):
            x = lin(x)
            if i < len(layers) - 1:
                x = TORCH_ACT[activation](x)
        return x
    return layers, forward


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "elu"])
def test_mlp_loss_and_grads_vs_torch(activation):
    sizes = [6, 8, 7, 4]
    params = tr.mlp_init(sizes, "xavier", seed=5)
    rng = np.random.default_rng(6)
    params = [p + 0.1 * rng.normal(size=p.shape) for p in params]   # non-zero biases too
    X, y = rng.normal(size=(9, 6)), rng.integers(0, 4, size=9)
    loss, grads = tr.mlp_loss_and_grads(params, X, y, activation, reg=0.01)
    layers, forward = _torch_mlp(params, activation, sizes)
    ref = F.cross_entropy(forward(torch.tensor(X)), torch.tensor(y)) + \
        0.01 * sum((lin.weight ** 2).sum() for lin in layers)
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    for i, lin in enumerate(layers):
        assert rel_error(grads[2 * i], lin.weight.grad.numpy()) < 1e-10
        assert rel_error(grads[2 * i + 1], lin.bias.grad.numpy()) < 1e-10


def test_mlp_mse_and_dropout_vs_numerical():
    sizes = [3, 5, 2]
    params = tr.mlp_init(sizes, "he", seed=7)
    rng = np.random.default_rng(8)
    X, Y = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    for dropout in [0.0, 0.5]:
        f = lambda: tr.mlp_loss_and_grads(params, X, Y, "tanh", loss="mse", dropout=dropout,  # noqa: E731
                                          rng=np.random.default_rng(9))[0]
        _, grads = tr.mlp_loss_and_grads(params, X, Y, "tanh", loss="mse", dropout=dropout,
                                         rng=np.random.default_rng(9))
        for p, g in zip(params, grads):
            assert rel_error(g, numerical_gradient(f, p)) < 1e-7
    layers, forward = _torch_mlp(params, "tanh", sizes)
    ref = F.mse_loss(forward(torch.tensor(X)), torch.tensor(Y))
    assert tr.mlp_loss_and_grads(params, X, Y, "tanh", loss="mse")[0] == pytest.approx(ref.item(), rel=1e-12)


def test_mlp_loss_rejects_unknown_loss():
    params = tr.mlp_init([3, 4, 2], seed=0)
    X, Y = np.ones((5, 3)), np.zeros((5, 2))             # (N, nL) targets: "sofmax" used to run as MSE
    with pytest.raises(ValueError, match="'softmax' or 'mse'"):
        tr.mlp_loss_and_grads(params, X, Y, loss="sofmax")
    with pytest.raises(ValueError, match="'softmax' or 'mse'"):
        tr.mlp_loss_and_grads(params, X, Y, loss="MSE")


@pytest.mark.parametrize("update,config", [
    (tr.momentum_update, {"lr": 0.1, "mu": 0.5}),
    (tr.adam_update, {"lr": 0.1, "betas": (0.9, 0.99)}),
])
def test_update_rules_refuse_unknown_config_keys(update, config):
    w, dw = np.ones(3), np.ones(3)
    with pytest.raises(ValueError, match="unknown config key"):
        update(w, dw, dict(config))
    with pytest.raises(ValueError, match="unknown config key"):      # also through loop.fit
        loop.fit(lambda P, Xb, yb: (0.0, [np.ones(3)]), [w], np.ones((4, 1)), np.ones(4),
                 update, config, epochs=1, progress=False)


@pytest.mark.parametrize("name,update,config,torch_opt", [
    ("momentum", tr.momentum_update, {"lr": 0.05, "momentum": 0.9},
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    ("adam", tr.adam_update, {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-8},
     lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-8)),
])
def test_update_rules_vs_torch_optim(name, update, config, torch_opt):
    rng = np.random.default_rng(10)
    w = rng.normal(size=(3, 4))
    tw = torch.tensor(w.copy(), requires_grad=True)
    opt = torch_opt([tw])
    state = dict(config)
    for step in range(25):
        dw = np.cos(3 * w + step) + 0.3                       # a gradient that depends on w
        w = update(w, dw, state)
        opt.zero_grad()
        tw.grad = torch.cos(3 * tw.detach() + step) + 0.3
        opt.step()
    assert rel_error(w, tw.detach().numpy()) < 1e-12


def test_mlp_loss_is_functions_cross_entropy_and_mse():
    """The MLP's data loss is nnutils.functions' cross-entropy / MSE of its scores."""
    params = tr.mlp_init([3, 5, 4], seed=2)
    rng = np.random.default_rng(3)
    X, y, Y = rng.normal(size=(6, 3)), rng.integers(0, 4, size=6), rng.normal(size=(6, 4))
    scores, _ = tr.mlp_forward(X, params)
    assert tr.mlp_loss_and_grads(params, X, y)[0] == pytest.approx(
        functions.cross_entropy(scores, y).mean(), rel=1e-14)
    assert tr.mlp_loss_and_grads(params, X, Y, loss="mse")[0] == pytest.approx(
        functions.mse(scores, Y), rel=1e-14)
    with pytest.raises(ValueError, match="labels"):      # -1 is not read as the last class
        tr.mlp_loss_and_grads(params, X, np.array([0, 1, 2, 3, 0, -1]))


def test_mlp_trained_by_loop_fit_on_digits_and_counts_iterations():
    from nnutils import data
    (X_tr, y_tr), _, (X_te, y_te) = data.load_digits(seed=0)
    params = tr.mlp_init([64, 32, 10], "he", seed=0)
    lg = lambda P, Xb, yb: tr.mlp_loss_and_grads(P, Xb, yb, "relu")  # noqa: E731
    hist = loop.fit(lg, params, X_tr, y_tr, tr.adam_update, {"lr": 1e-2}, epochs=5,
                    batch_size=100, progress=False,
                    evaluate=lambda P: {"acc": float(np.mean(tr.mlp_predict(P, X_te) == y_te))})
    assert len(hist["loss"]) == 5 * int(np.ceil(len(X_tr) / 100))
    assert len(hist["epoch"]) == 5 and hist["epoch"][-1]["acc"] > 0.9
    assert np.mean(hist["loss"][-5:]) < 0.5 * np.mean(hist["loss"][:5])


def test_mlp_loop_fit_steps_match_torch_adam():
    """loop.fit + mlp_loss_and_grads + adam_update, full batch, against torch.optim.Adam."""
    sizes = [4, 6, 3]
    params = tr.mlp_init(sizes, "xavier", seed=4)
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(12, 4)), rng.integers(0, 3, size=12)
    layers, forward = _torch_mlp(params, "tanh", sizes)
    torch_params = [p for lin in layers for p in (lin.weight, lin.bias)]
    opt = torch.optim.Adam(torch_params, lr=0.05)
    for _ in range(20):
        opt.zero_grad()
        F.cross_entropy(forward(torch.tensor(X)), torch.tensor(y)).backward()
        opt.step()
    lg = lambda P, Xb, yb: tr.mlp_loss_and_grads(P, Xb, yb, "tanh")  # noqa: E731
    loop.fit(lg, params, X, y, tr.adam_update, {"lr": 0.05}, epochs=20, batch_size=len(X),
             progress=False)
    for p, tp in zip(params, torch_params):
        assert rel_error(p, tp.detach().numpy()) < 1e-9


def test_mlp_with_dropout_through_loop_fit_is_reproducible():
    """The dropout generator is bound in the closure; fit's seed orders the batches."""
    X = np.random.default_rng(0).normal(size=(50, 2))
    y = (X[:, 0] > 0).astype(int)

    def train(dropout_seed, order_seed=3):
        P = tr.mlp_init([2, 4, 2], seed=1)
        rng = np.random.default_rng(dropout_seed)
        def lg(P_, Xb, yb):
            return tr.mlp_loss_and_grads(P_, Xb, yb, dropout=0.2, rng=rng)
        loop.fit(lg, P, X, y, tr.momentum_update, {"lr": 0.1}, epochs=3, batch_size=16,
                 seed=order_seed, progress=False)
        return P

    first, again, other_masks, other_order = train(7), train(7), train(8), train(7, 4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other_masks))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other_order))


# ---------------------------------------------------------------------------------------------
# Batch normalisation against torch.nn.BatchNorm1d / BatchNorm2d with copied state
# ---------------------------------------------------------------------------------------------
def _torch_bn(cls, gamma, beta, running, momentum, eps):
    bn = cls(len(gamma), eps=eps, momentum=momentum).double()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(gamma))
        bn.bias.copy_(torch.tensor(beta))
        bn.running_mean.copy_(torch.tensor(running[0]))
        bn.running_var.copy_(torch.tensor(running[1]))
    return bn


def _torch_bn_step(bn, x, dout):
    """out, dx, dgamma, dbeta of torch's layer in its current mode, grads from autograd."""
    bn.zero_grad()
    tx = torch.tensor(x, requires_grad=True)
    out = bn(tx)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), tx.grad.numpy(), bn.weight.grad.numpy(), bn.bias.grad.numpy()


BN_CASES = [  # (forward, backward, torch class, input shape, momentum, eps)
    (tr.batchnorm_forward, tr.batchnorm_backward, torch.nn.BatchNorm1d, (8, 5), 0.1, 1e-5),
    (tr.batchnorm_forward, tr.batchnorm_backward, torch.nn.BatchNorm1d, (3, 4), 0.3, 1e-3),
    (tr.spatial_batchnorm_forward, tr.spatial_batchnorm_backward, torch.nn.BatchNorm2d,
     (3, 4, 5, 2), 0.1, 1e-5),
    (tr.spatial_batchnorm_forward, tr.spatial_batchnorm_backward, torch.nn.BatchNorm2d,
     (2, 3, 1, 4), 0.25, 1e-2),
]


@pytest.mark.parametrize("forward,backward,cls,shape,momentum,eps", BN_CASES)
def test_batchnorm_vs_torch_train_steps_then_eval(forward, backward, cls, shape, momentum,
                                                   eps):
    """Several training steps (outputs, running statistics, gradients), then eval mode."""
    rng = np.random.default_rng(20)
    C = shape[1]
    gamma, beta = rng.normal(size=C), rng.normal(size=C)
    running = (rng.normal(size=C), rng.uniform(0.5, 2.0, size=C))      # not torch's start
    bn = _torch_bn(cls, gamma, beta, running, momentum, eps)
    scale = rng.uniform(0.1, 5.0, size=C).reshape((1, C) + (1,) * (len(shape) - 2))
    for step in range(5):
        x = 3.0 + scale * rng.normal(size=shape) + step        # the statistics move
        dout = rng.normal(size=shape)
        out, cache, running = forward(x, gamma, beta, running, True, momentum, eps)
        dx, dgamma, dbeta = backward(dout, cache)
        ref = _torch_bn_step(bn.train(), x, dout)
        for ours, theirs in zip([out, dx, dgamma, dbeta], ref):
            assert ours.shape == theirs.shape
            assert rel_error(ours, theirs) < 1e-10
        assert rel_error(running[0], bn.running_mean.numpy()) < 1e-12
        assert rel_error(running[1], bn.running_var.numpy()) < 1e-12
    x, dout = rng.normal(size=shape), rng.normal(size=shape)
    out, cache, after = forward(x, gamma, beta, running, False, momentum, eps)
    assert after[0] is running[0] and after[1] is running[1]   # inference changes nothing
    ref = _torch_bn_step(bn.eval(), x, dout)
    for ours, theirs in zip([out, *backward(dout, cache)], ref):
        assert rel_error(ours, theirs) < 1e-10


def test_batchnorm_starts_like_torch_and_uses_unbiased_running_variance():
    gamma, beta, (mean, var) = tr.batchnorm_init(3)
    bn = torch.nn.BatchNorm1d(3)
    for ours, theirs in [(gamma, bn.weight), (beta, bn.bias), (mean, bn.running_mean),
                         (var, bn.running_var)]:
        assert np.array_equal(ours, theirs.detach().numpy())
    x = np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 6.0]])
    out, _, (mean, var) = tr.batchnorm_forward(x, gamma, beta, (mean, var))
    assert np.allclose(out, [[-1, 0, -1], [1, 0, 1]], atol=1e-5)   # biased var normalises
    assert np.allclose(mean, 0.1 * x.mean(axis=0))
    assert np.allclose(var, 0.9 + 0.1 * x.var(axis=0, ddof=1))     # unbiased var is tracked


@pytest.mark.parametrize("forward,backward,cls,shape,momentum,eps", BN_CASES)
@pytest.mark.parametrize("train", [True, False])
def test_batchnorm_backward_vs_numerical(forward, backward, cls, shape, momentum, eps, train):
    rng = np.random.default_rng(21)
    C = shape[1]
    x, dout = rng.normal(size=shape), rng.normal(size=shape)
    gamma, beta = rng.normal(size=C), rng.normal(size=C)
    running = (rng.normal(size=C), rng.uniform(0.5, 2.0, size=C))
    def f():
        return float(np.sum(forward(x, gamma, beta, running, train, momentum, eps)[0] * dout))
    grads = backward(dout, forward(x, gamma, beta, running, train, momentum, eps)[1])
    for g, p in zip(grads, [x, gamma, beta]):
        assert rel_error(g, numerical_gradient(f, p)) < 1e-7


def test_batchnorm_training_gradient_is_blind_to_shift_and_scale_of_the_batch():
    """The output does not change if a feature of the batch is shifted or scaled (exactly
    so as eps -> 0), so dx sums to 0 over the batch and is orthogonal to x_hat."""
    rng = np.random.default_rng(22)
    x, dout = rng.normal(size=(10, 4)), rng.normal(size=(10, 4))
    gamma, beta, running = tr.batchnorm_init(4)
    out, cache, _ = tr.batchnorm_forward(x, gamma, beta, running, eps=1e-12)
    dx, _, _ = tr.batchnorm_backward(dout, cache)
    x_hat = cache[0]
    assert np.allclose(dx.sum(axis=0), 0) and np.allclose((dx * x_hat).sum(axis=0), 0)
    out2, _, _ = tr.batchnorm_forward(2.0 * x + 7.0, gamma, beta, running, eps=1e-12)
    assert np.allclose(out, out2)


def test_batchnorm_is_pure():
    rng = np.random.default_rng(23)
    x, gamma, beta = rng.normal(size=(6, 3)), rng.normal(size=3), rng.normal(size=3)
    running = (rng.normal(size=3), rng.uniform(1, 2, size=3))
    copies = [a.copy() for a in (x, gamma, beta, *running)]
    for train in [True, False]:
        out, cache, new = tr.batchnorm_forward(x, gamma, beta, running, train)
        tr.batchnorm_backward(np.ones_like(out), cache)
        tr.spatial_batchnorm_forward(x.reshape(2, 3, 3, 1), gamma, beta, running, train)
    for a, b in zip((x, gamma, beta, *running), copies):
        assert np.array_equal(a, b)


def test_batchnorm_bad_input_is_a_clear_error():
    g, b, running = tr.batchnorm_init(3)
    x = np.ones((4, 3))
    bad = [  # (call, exception, message)
        (lambda: tr.batchnorm_forward(np.ones(3), g, b, running), ValueError, r"\(N, D\)"),
        (lambda: tr.batchnorm_forward(np.ones((2, 3, 4, 4)), g, b, running), ValueError,
         "spatial_batchnorm_forward"),
        (lambda: tr.batchnorm_forward(x, np.ones(4), b, running), ValueError, "gamma"),
        (lambda: tr.batchnorm_forward(x, g, np.ones((1, 3)), running), ValueError, "beta"),
        (lambda: tr.batchnorm_forward(x, g, b, {"mean": 0}), TypeError, "pair"),
        (lambda: tr.batchnorm_forward(x, g, b, running[0]), TypeError, "pair"),
        (lambda: tr.batchnorm_forward(x, g, b, (np.zeros(3), np.ones(2))), ValueError,
         "running_var"),
        (lambda: tr.batchnorm_forward(x, g, b, running, momentum=1.5), ValueError, "momentum"),
        (lambda: tr.batchnorm_forward(x, g, b, running, eps=0.0), ValueError, "eps"),
        (lambda: tr.batchnorm_forward(x[:1], g, b, running), ValueError, "more than 1"),
        (lambda: tr.batchnorm_backward(np.ones((4, 2)),
                                       tr.batchnorm_forward(x, g, b, running)[1]),
         ValueError, "dout"),
        (lambda: tr.spatial_batchnorm_forward(x, g, b, running), ValueError, r"\(N, C, H, W\)"),
        (lambda: tr.spatial_batchnorm_forward(np.ones((2, 4, 3, 3)), g, b, running),
         ValueError, "gamma.*channel"),
        (lambda: tr.spatial_batchnorm_forward(np.ones((1, 3, 1, 1)), g, b, running),
         ValueError, "more than 1"),
    ]
    for call, exc, message in bad:
        with pytest.raises(exc, match=message):
            call()


def test_batchnorm_single_example_like_torch():
    """Training on one value per feature raises in torch too; inference and a single image
    with several pixels per channel are fine in both."""
    g, b, running = tr.batchnorm_init(3)
    with pytest.raises(ValueError):
        torch.nn.BatchNorm1d(3)(torch.ones(1, 3))
    with pytest.raises(ValueError):
        torch.nn.BatchNorm2d(3)(torch.ones(1, 3, 1, 1))
    x = np.random.default_rng(24).normal(size=(1, 3, 2, 2))
    bn = _torch_bn(torch.nn.BatchNorm2d, g, b, running, 0.1, 1e-5)
    out, _, running2 = tr.spatial_batchnorm_forward(x, g, b, running)
    assert rel_error(out, bn(torch.tensor(x)).detach().numpy()) < 1e-10
    assert rel_error(running2[1], bn.running_var.numpy()) < 1e-12
    out, _, _ = tr.batchnorm_forward(x[:, :, 0, 0], g, b, running, train=False)
    bn1 = _torch_bn(torch.nn.BatchNorm1d, g, b, running, 0.1, 1e-5).eval()
    assert rel_error(out, bn1(torch.tensor(x[:, :, 0, 0])).detach().numpy()) < 1e-12


# ---------------------------------------------------------------------------------------------
# The network with batch norm: against nn.Sequential(Linear(bias=False), BatchNorm1d, act, ...)
# ---------------------------------------------------------------------------------------------
def _torch_bn_mlp(params, running, activation, sizes):
    layers = []
    for l in range(len(sizes) - 2):
        lin = torch.nn.Linear(sizes[l], sizes[l + 1], bias=False).double()
        bn = _torch_bn(torch.nn.BatchNorm1d, params[3 * l + 1], params[3 * l + 2], running[l],
                       0.1, 1e-5)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(params[3 * l]))
        layers += [lin, bn, TORCH_ACT[activation]]
    last = torch.nn.Linear(sizes[-2], sizes[-1]).double()
    with torch.no_grad():
        last.weight.copy_(torch.tensor(params[-2]))
        last.bias.copy_(torch.tensor(params[-1]))
    mods = [m for m in layers if isinstance(m, torch.nn.Module)] + [last]

    def forward(x):
        for m in layers + [last]:
            x = m(x)
        return x
    torch_params = [p for m in mods for p in m.parameters()]
    return forward, torch.nn.ModuleList(mods), torch_params


def test_bn_mlp_init_shares_mlp_init_weights():
    sizes = [5, 7, 6, 3]
    params, running = tr.bn_mlp_init(sizes, "xavier", seed=3)
    plain = tr.mlp_init(sizes, "xavier", seed=3)
    assert [p.shape for p in params] == [(7, 5), (7,), (7,), (6, 7), (6,), (6,), (3, 6), (3,)]
    for W, V in zip(params[0::3], plain[0::2]):
        assert np.array_equal(W, V)
    assert len(running) == 2 and all(np.array_equal(v, np.ones(n)) for (_, v), n in
                                     zip(running, [7, 6]))


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_bn_mlp_loss_and_grads_vs_torch_train_and_eval(activation):
    sizes = [6, 8, 7, 4]
    params, running = tr.bn_mlp_init(sizes, "xavier", seed=5)
    rng = np.random.default_rng(6)
    params = [p + 0.1 * rng.normal(size=p.shape) for p in params]   # gamma != 1, beta != 0
    X, y = rng.normal(size=(9, 6)), rng.integers(0, 4, size=9)
    forward, mods, torch_params = _torch_bn_mlp(params, running, activation, sizes)
    loss, grads, new_running = tr.bn_mlp_loss_and_grads(params, X, y, running, activation)
    ref = F.cross_entropy(forward(torch.tensor(X)), torch.tensor(y))
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    assert len(grads) == len(params) == len(torch_params)
    for g, p, tp in zip(grads, params, torch_params):
        assert g.shape == p.shape and rel_error(g, tp.grad.numpy()) < 1e-9
    bns = [m for m in mods if isinstance(m, torch.nn.BatchNorm1d)]
    for (mean, var), bn in zip(new_running, bns):
        assert rel_error(mean, bn.running_mean.numpy()) < 1e-12
        assert rel_error(var, bn.running_var.numpy()) < 1e-12
    mods.eval()
    X_test = rng.normal(size=(5, 6))
    scores, _, same = tr.bn_mlp_forward(X_test, params, new_running, activation)
    assert same == new_running
    assert rel_error(scores, forward(torch.tensor(X_test)).detach().numpy()) < 1e-10
    assert np.array_equal(tr.bn_mlp_predict(params, X_test, new_running, activation),
                          scores.argmax(axis=1))


def test_bn_mlp_grads_vs_numerical():
    sizes = [3, 5, 4, 3]
    params, running = tr.bn_mlp_init(sizes, "he", seed=7)
    rng = np.random.default_rng(8)
    params = [p + 0.1 * rng.normal(size=p.shape) for p in params]
    X, y = rng.normal(size=(6, 3)), rng.integers(0, 3, size=6)
    f = lambda: tr.bn_mlp_loss_and_grads(params, X, y, running, "tanh")[0]  # noqa: E731
    _, grads, _ = tr.bn_mlp_loss_and_grads(params, X, y, running, "tanh")
    for p, g in zip(params, grads):
        assert rel_error(g, numerical_gradient(f, p)) < 1e-7


def test_bn_mlp_through_loop_fit_matches_torch_sgd():
    """loop.fit with the running statistics kept in the closure, against torch: the same
    parameters and running statistics after 6 steps, the same predictions in eval mode."""
    sizes = [4, 6, 5, 3]
    params, running = tr.bn_mlp_init(sizes, "he", seed=9)
    rng = np.random.default_rng(10)
    X, y = rng.normal(size=(12, 4)), rng.integers(0, 3, size=12)
    forward, mods, torch_params = _torch_bn_mlp(params, running, "relu", sizes)
    opt = torch.optim.SGD(torch_params, lr=0.1)
    order = np.random.default_rng(0)              # fit's shuffling, replayed for torch
    for _ in range(3):
        perm = order.permutation(len(X))
        for start in range(0, len(X), 6):
            idx = perm[start:start + 6]
            opt.zero_grad()
            F.cross_entropy(forward(torch.tensor(X[idx])), torch.tensor(y[idx])).backward()
            opt.step()

    def lg(P, Xb, yb):
        loss, grads, running[:] = tr.bn_mlp_loss_and_grads(P, Xb, yb, running, "relu")
        return loss, grads
    hist = loop.fit(lg, params, X, y, loop.sgd_update, {"lr": 0.1}, epochs=3, batch_size=6,
                    seed=0, progress=False)
    assert len(hist["loss"]) == 6
    for p, tp in zip(params, torch_params):
        assert rel_error(p, tp.detach().numpy()) < 1e-9
    bns = [m for m in mods if isinstance(m, torch.nn.BatchNorm1d)]
    for (mean, var), bn in zip(running, bns):
        assert rel_error(mean, bn.running_mean.numpy()) < 1e-10
        assert rel_error(var, bn.running_var.numpy()) < 1e-10
    mods.eval()
    scores = forward(torch.tensor(X)).detach().numpy()
    assert rel_error(tr.bn_mlp_forward(X, params, running, "relu")[0], scores) < 1e-9


def test_bn_mlp_bad_input_is_a_clear_error():
    params, running = tr.bn_mlp_init([3, 4, 2], seed=0)
    X = np.ones((5, 3))
    with pytest.raises(ValueError, match="params"):
        tr.bn_mlp_forward(X, params[:-1], running)
    with pytest.raises(ValueError, match="params"):           # plain MLP params, no pairs
        tr.bn_mlp_forward(X, tr.mlp_init([3, 4, 2]), running)
    with pytest.raises(TypeError, match="list of pairs"):
        tr.bn_mlp_forward(X, params, None)
    with pytest.raises(ValueError, match="unknown activation"):
        tr.bn_mlp_loss_and_grads(params, X, np.zeros(5, dtype=int), running, "Relu")
    with pytest.raises(ValueError, match="more than 1"):       # a batch of one, training
        tr.bn_mlp_loss_and_grads(params, X[:1], np.zeros(1, dtype=int), running)
