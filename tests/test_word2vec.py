"""nnutils.word2vec against independent references: brute-force loops, np.add.at, torch autograd
(float64), the word2vec.c formulas, and a generated corpus with planted word families."""
import hashlib
from collections import Counter

import numpy as np
import pytest
import torch

from nnutils import word2vec as w2v


# ---------------------------------------------------------------------------------------------
# corpus, vocabulary, subsampling
# ---------------------------------------------------------------------------------------------

def test_tokenize():
    assert w2v.tokenize("It is a truth, Mr. Darcy's; DON'T--stop 1813!") == [
        "it", "is", "a", "truth", "mr", "darcy's", "don't", "stop"]


def test_austen_corpus_is_the_committed_file():
    raw = (w2v.DATA / "austen_pride_and_prejudice.txt").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == "dfc684d4f857fa938268f9ab9c5567b64bd0691251eca959644adeabe6287a4d"
    tokens = w2v.load_austen()
    assert tokens[:3] == ["pride", "and", "prejudice"]
    assert 120_000 < len(tokens) < 125_000
    assert tokens[tokens.index("truth"):tokens.index("truth") + 3] == ["truth", "universally", "acknowledged"]


def test_build_vocab_and_encode():
    tokens = "b a c a b a d a b e".split()
    words, counts, index = w2v.build_vocab(tokens, min_count=2)
    ref = Counter(tokens)
    assert words == ["a", "b"] and list(counts) == [ref["a"], ref["b"]]
    assert index == {"a": 0, "b": 1}
    assert list(w2v.encode(tokens, index)) == [1, 0, 0, 1, 0, 0, 1]


def test_keep_probabilities_formula():
    counts = np.array([5000, 100, 1, 94899])          # shares 0.05, 0.001, 1e-5, ...
    keep = w2v.keep_probabilities(counts, sample=1e-3)
    f = counts / counts.sum()
    assert keep[0] == pytest.approx((np.sqrt(0.05 / 1e-3) + 1) * 1e-3 / 0.05)   # ~0.16
    assert 0.15 < keep[0] < 0.17
    assert keep[1] == 1.0 and keep[2] == 1.0          # f <= sample: (sqrt(1)+1)*1 >= 1, capped
    assert keep[3] == pytest.approx((np.sqrt(f[3] / 1e-3) + 1) * 1e-3 / f[3])


def test_subsample_keeps_the_right_share():
    rng = np.random.default_rng(0)
    ids = np.repeat([0, 1], [100_000, 100_000])
    keep_prob = np.array([0.2, 1.0])
    kept = w2v.subsample(ids, keep_prob, rng)
    assert np.sum(kept == 1) == 100_000
    assert abs(np.sum(kept == 0) / 100_000 - 0.2) < 0.01


# ---------------------------------------------------------------------------------------------
# training examples
# ---------------------------------------------------------------------------------------------

def _pairs_loop(ids, w):
    out = []
    for i in range(len(ids)):
        for j in range(max(0, i - w[i]), min(len(ids), i + w[i] + 1)):
            if j != i:
                out.append((ids[i], ids[j]))
    return sorted(out)


@pytest.mark.parametrize("reduced", [False, True])
def test_skipgram_pairs_match_a_loop(reduced):
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 20, size=40)
    w = rng.integers(1, 4, size=40) if reduced else np.full(40, 3)
    centers, contexts = w2v.skipgram_pairs(ids, 3, w if reduced else None)
    assert sorted(zip(centers.tolist(), contexts.tolist())) == _pairs_loop(ids.tolist(), w)


def test_skipgram_pairs_small_example():
    c, o = w2v.skipgram_pairs(np.array([10, 11, 12]), window=1)
    assert sorted(zip(c.tolist(), o.tolist())) == [(10, 11), (11, 10), (11, 12), (12, 11)]


def test_cbow_windows_match_a_loop():
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 20, size=30)
    w = rng.integers(1, 4, size=30)
    centers, contexts, mask = w2v.cbow_windows(ids, 3, w)
    assert contexts.shape == mask.shape == (30, 6)
    for i in range(30):
        want = sorted(ids[j] for j in range(max(0, i - w[i]), min(30, i + w[i] + 1)) if j != i)
        assert sorted(contexts[i][mask[i]].tolist()) == want
    assert np.array_equal(centers, ids)


def test_noise_distribution_and_table():
    counts = np.array([1000, 100, 10, 1])
    p = w2v.noise_distribution(counts)
    assert np.allclose(p, counts ** 0.75 / np.sum(counts ** 0.75))
    assert p[0] < counts[0] / counts.sum()             # frequent words sampled less than their share
    table = w2v.unigram_table(counts, size=100_000)
    share = np.bincount(table, minlength=4) / len(table)
    assert np.allclose(share, p, atol=2e-5)


# ---------------------------------------------------------------------------------------------
# loss, gradients, updates
# ---------------------------------------------------------------------------------------------

def test_sgns_loss_and_grads_match_torch():
    rng = np.random.default_rng(3)
    B, K, d = 4, 3, 5
    v, u_pos, u_neg = rng.normal(size=(B, d)), rng.normal(size=(B, d)), rng.normal(size=(B, K, d))
    loss, dv, du_pos, du_neg = w2v.sgns_loss_and_grads(v, u_pos, u_neg)
    tv, tp, tn = (torch.tensor(a, requires_grad=True) for a in (v, u_pos, u_neg))
    F = torch.nn.functional
    tloss = -F.logsigmoid((tv * tp).sum(1)).sum() - F.logsigmoid(-(tn @ tv[:, :, None])[..., 0]).sum()
    tloss.backward()
    assert loss == pytest.approx(tloss.item(), rel=1e-12)
    for got, want in [(dv, tv.grad), (du_pos, tp.grad), (du_neg, tn.grad)]:
        assert np.allclose(got, want.numpy(), rtol=1e-10, atol=1e-12)


def test_fancy_index_add_drops_repeated_rows():
    """The trap the chapter shows: W[idx] += G keeps one update per repeated row."""
    W = np.zeros((3, 2))
    idx = np.array([0, 2, 0, 0])
    G = np.ones((4, 2))
    W_fancy = W.copy()
    W_fancy[idx] += G
    W_exact = W.copy()
    np.add.at(W_exact, idx, G)
    assert np.array_equal(W_exact[0], [3, 3]) and np.array_equal(W_fancy[0], [1, 1])   # 2 updates lost
    W_ours = W.copy()
    w2v.scatter_add(W_ours, idx, G)
    assert np.array_equal(W_ours, W_exact)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scatter_add_matches_add_at(dtype):
    rng = np.random.default_rng(4)
    W = rng.normal(size=(50, 7)).astype(dtype)
    idx = rng.integers(0, 50, size=300)                # many repeats
    G = rng.normal(size=(300, 7)).astype(dtype)
    ref = W.copy()
    np.add.at(ref, idx, G)
    w2v.scatter_add(W, idx, G)
    assert W.dtype == dtype and np.allclose(W, ref, atol=1e-5)


def test_scatter_add_weighted_several_targets():
    rng = np.random.default_rng(5)
    W = rng.normal(size=(20, 4))
    idx = rng.integers(0, 20, size=(30, 3))
    G, weights = rng.normal(size=(30, 4)), rng.normal(size=(30, 3))
    ref = W.copy()
    np.add.at(ref, idx.ravel(), (weights[:, :, None] * G[:, None, :]).reshape(-1, 4))
    w2v.scatter_add(W, idx, G, weights=weights)
    assert np.allclose(W, ref)


@pytest.mark.parametrize("idx_shape, weighted", [((0,), False), ((0, 3), True)])
def test_scatter_add_empty_batch_changes_nothing_like_add_at(idx_shape, weighted):
    W = np.random.default_rng(6).normal(size=(10, 4))
    idx, G = np.zeros(idx_shape, dtype=np.int64), np.zeros((0, 4))
    ref = W.copy()
    np.add.at(ref, idx.ravel(), np.zeros((idx.size, 4)))
    w2v.scatter_add(W, idx, G, weights=np.zeros(idx_shape) if weighted else None)
    assert np.array_equal(W, ref)


def _torch_step(loss_fn, W_in, W_out, alpha):
    """W - alpha * grad of loss_fn(W_in, W_out) via autograd (float64)."""
    ti, to = torch.tensor(W_in, requires_grad=True), torch.tensor(W_out, requires_grad=True)
    loss = loss_fn(ti, to)
    loss.backward()
    return loss.item(), W_in - alpha * ti.grad.numpy(), W_out - alpha * to.grad.numpy()


def test_sgns_step_is_one_exact_sgd_step():
    rng = np.random.default_rng(6)
    V, d, B, K, alpha = 12, 4, 40, 3, 0.1
    W_in, W_out = rng.normal(size=(V, d)), rng.normal(size=(V, d))
    centers, contexts = rng.integers(0, V, B), rng.integers(0, V, B)
    negs = rng.integers(0, V, (B, K))                  # repeats across the batch: the hard case
    negs[0, 0] = contexts[0]                           # a negative equal to the true word: skipped
    use = torch.tensor(negs != contexts[:, None], dtype=torch.float64)
    F = torch.nn.functional

    def loss_fn(ti, to):
        v = ti[centers]
        pos = (v * to[contexts]).sum(1)
        neg = (to[negs] * v[:, None, :]).sum(2)
        return -F.logsigmoid(pos).sum() - (use * F.logsigmoid(-neg)).sum()

    want_loss, want_in, want_out = _torch_step(loss_fn, W_in, W_out, alpha)
    loss = w2v.sgns_step(W_in, W_out, centers, contexts, negs, alpha)
    assert loss == pytest.approx(want_loss, rel=1e-10)
    assert np.allclose(W_in, want_in, atol=1e-12) and np.allclose(W_out, want_out, atol=1e-12)


def test_cbow_step_exact_and_word2vec_c_updates():
    rng = np.random.default_rng(7)
    V, d, K, alpha = 15, 4, 4, 0.2
    ids = rng.integers(0, V, 25)
    centers, contexts, mask = w2v.cbow_windows(ids, 2, rng.integers(1, 3, 25))
    negs = rng.integers(0, V, (25, K))
    W_in, W_out = rng.normal(size=(V, d)), rng.normal(size=(V, d))
    use = torch.tensor(negs != centers[:, None], dtype=torch.float64)
    m = torch.tensor(mask, dtype=torch.float64)
    F = torch.nn.functional

    def loss_fn(ti, to):
        h = (ti[contexts] * m[:, :, None]).sum(1) / m.sum(1, keepdim=True)
        pos = (h * to[centers]).sum(1)
        neg = (to[negs] * h[:, None, :]).sum(2)
        return -F.logsigmoid(pos).sum() - (use * F.logsigmoid(-neg)).sum()

    want_loss, want_in, want_out = _torch_step(loss_fn, W_in, W_out, alpha)
    before_in, before_out = W_in.copy(), W_out.copy()
    loss = w2v.cbow_step(W_in, W_out, centers, contexts, mask, negs, alpha, exact=True)
    assert loss == pytest.approx(want_loss, rel=1e-10)
    assert np.allclose(W_in, want_in, atol=1e-12) and np.allclose(W_out, want_out, atol=1e-12)

    # word2vec.c's update (the default): the output side is the same step, and every context
    # word gets the whole step on h, -alpha * dloss/dh, instead of 1/m of it
    th = torch.tensor((before_in[contexts] * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True),
                      requires_grad=True)
    to = torch.tensor(before_out)
    pos = (th * to[centers]).sum(1)
    neg = (to[negs] * th[:, None, :]).sum(2)
    (-F.logsigmoid(pos).sum() - (use * F.logsigmoid(-neg)).sum()).backward()
    want_in = before_in.copy()
    np.add.at(want_in, contexts[mask > 0], np.repeat(-alpha * th.grad.numpy(), mask.sum(1), axis=0))
    W_in, W_out = before_in.copy(), before_out.copy()
    assert w2v.cbow_step(W_in, W_out, centers, contexts, mask, negs, alpha) == pytest.approx(loss)
    assert np.allclose(W_in, want_in, atol=1e-12) and np.allclose(W_out, want_out, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# training on planted families; using the vectors
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def planted():
    tokens, families = w2v.planted_corpus(seed=0)
    words, counts, index = w2v.build_vocab(tokens, min_count=5)
    return w2v.encode(tokens, index), counts, index, families


def test_planted_corpus_shape(planted):
    ids, counts, index, families = planted
    assert len(families) == 10 and all(len(f) == 8 for f in families)
    assert all(w in index for f in families for w in f) and len(index) == 120


@pytest.mark.parametrize("sg", [True, False])
def test_training_recovers_planted_families(planted, sg):
    ids, counts, index, families = planted
    chance = 7 / (len(index) - 1)
    W0, _ = w2v.init_vectors(len(counts), 30, seed=0)
    assert w2v.precision_at_k(W0, families, index) < 0.25          # untrained: near chance
    lr = 0.025 if sg else 0.05                                     # word2vec.c's defaults
    W_in, _, losses = w2v.train(ids, counts, dim=30, epochs=3, lr=lr, sg=sg, seed=0)
    p5 = w2v.precision_at_k(W_in, families, index, k=5)
    assert p5 > 0.9 > 10 * chance, f"precision@5 {p5:.2f} (chance {chance:.2f})"
    assert losses[-20:].mean() < 0.8 * losses[:5].mean()           # the loss went down


def test_nearest_and_analogy_on_known_vectors():
    words = ["king", "queen", "man", "woman", "apple"]
    index = {w: i for i, w in enumerate(words)}
    # dims: royalty, maleness, fruit
    W = np.array([[1, 1, 0], [1, -1, 0], [0, 1, 0.1], [0, -1, 0.1], [0, 0, 1.0]])
    assert w2v.nearest(W, words, index, "king", k=1)[0][0] in ("queen", "man")
    assert [w for w, _ in w2v.nearest(W, words, index, "apple", k=4)][-1] in ("king", "queen")
    assert "apple" not in [w for w, _ in w2v.nearest(W, words, index, "king", k=2)]
    best, cos = w2v.analogy(W, words, index, "man", "king", "woman")[0]
    assert best == "queen" and cos > 0.9
    assert w2v.nearest(W, words, index, W[0], k=1)[0][0] == "king"  # a vector query keeps itself


def test_precision_at_k_by_hand():
    index = {"a": 0, "b": 1, "c": 2, "d": 3}
    W = np.array([[1.0, 0], [0.9, 0.1], [0, 1.0], [0.1, 0.9]])
    assert w2v.precision_at_k(W, [["a", "b"], ["c", "d"]], index, k=1) == 1.0
    assert w2v.precision_at_k(W, [["a", "c"], ["b", "d"]], index, k=1) == 0.0


def test_pca_2d_matches_sklearn():
    from sklearn.decomposition import PCA
    X = np.random.default_rng(8).normal(size=(30, 6)) @ np.diag([5, 3, 1, 1, 0.5, 0.1])
    got, want = w2v.pca_2d(X), PCA(2).fit_transform(X)
    assert np.allclose(np.abs(got), np.abs(want))
