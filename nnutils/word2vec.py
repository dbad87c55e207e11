"""Chapter 10: word2vec in numpy — skip-gram and CBOW with negative sampling.

Pipeline: text -> tokens -> vocabulary (ids by frequency) -> subsampling of frequent
words -> (center, context) pairs from a sliding window -> negative sampling -> minibatch
SGD -> word vectors -> nearest neighbours and analogies.

Two embedding matrices, as in Mikolov et al. (2013) and gensim: ``W_in`` (V, d), the
word vectors we keep, and ``W_out`` (V, d), the vectors of words in their role as
context ("output") words. All shapes: V words in the vocabulary, d dimensions, B pairs
in a minibatch, K negatives per pair.

The one hard part of a vectorised implementation is adding a minibatch's updates into
the rows they belong to, because a row can appear many times in one batch.
``W[idx] += G`` keeps only one update per repeated row; :func:`scatter_add` sums them
all (exactly like ``np.add.at``, but fast).
"""
import re
from collections import Counter
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from nnutils.functions import log_sigmoid, sigmoid

DATA = Path(__file__).resolve().parents[1] / "data"


# --------------------------------------------------------------------------------------
# Corpora
# --------------------------------------------------------------------------------------

def tokenize(text):
    """Lower-case words: runs of letters, inner apostrophes kept ("don't", "lady's")."""
    return re.findall(r"[a-z]+(?:'[a-z]+)*", text.lower())


def load_austen():
    """Tokens of Jane Austen's *Pride and Prejudice* (public domain, data/README.md)."""
    text = (DATA / "austen_pride_and_prejudice.txt").read_text(encoding="utf-8")
    return tokenize(text)


def planted_corpus(n_families=10, family_size=8, n_filler=40, n_sentences=3000,
                   length=12, p_family=0.5, seed=0):
    """A generated corpus with known word families, to check that training finds them.

    Each sentence picks one family and emits ``length`` words: a word of that family
    with probability ``p_family``, otherwise a filler word (shared by all sentences,
    Zipf-distributed). Family words are named like "f3w5" (family 3, word 5) and filler
    words like "x12". Returns (tokens: list of str, families: list of lists of words).
    """
    rng = np.random.default_rng(seed)
    families = [[f"f{k}w{j}" for j in range(family_size)] for k in range(n_families)]
    filler = np.array([f"x{j}" for j in range(n_filler)])
    p_filler = 1.0 / np.arange(1, n_filler + 1)
    p_filler /= p_filler.sum()
    tokens = []
    for _ in range(n_sentences):
        family = np.array(families[rng.integers(n_families)])
        from_family = rng.random(length) < p_family
        words = np.where(from_family, family[rng.integers(family_size, size=length)],
                         filler[rng.choice(n_filler, size=length, p=p_filler)])
        tokens.extend(words.tolist())
    return tokens, families


# --------------------------------------------------------------------------------------
# Vocabulary and subsampling
# --------------------------------------------------------------------------------------

def build_vocab(tokens, min_count=5):
    """Words seen at least ``min_count`` times, most frequent first (ties: first seen).

    Returns (words: list of str, counts: (V,) int array, index: dict word -> id).
    """
    counts = Counter(tokens)
    words = sorted((w for w, c in counts.items() if c >= min_count),
                   key=lambda w: -counts[w])
    index = {w: i for i, w in enumerate(words)}
    return words, np.array([counts[w] for w in words], dtype=np.int64), index


def encode(tokens, index):
    """Token list -> (n,) int array of ids; words not in the vocabulary are dropped."""
    return np.array([index[t] for t in tokens if t in index], dtype=np.int64)


def keep_probabilities(counts, sample=1e-3):
    """Probability of keeping each occurrence of a word when subsampling frequent words.

    The formula of word2vec.c and gensim: with f the word's share of the corpus, keep =
    (sqrt(f / sample) + 1) * sample / f, capped at 1. Rare words are always kept; a word
    making up 5% of the text (like "the") is kept about 16% of the time (sample=1e-3).
    counts: (V,). Returns (V,) floats in (0, 1].
    """
    f = counts / counts.sum()
    return np.minimum(1.0, (np.sqrt(f / sample) + 1.0) * sample / f)


def subsample(ids, keep_prob, rng):
    """Drop each occurrence of word w with probability 1 - keep_prob[w].

    ids: (n,) -> (m,).
    """
    return ids[rng.random(len(ids)) < keep_prob[ids]]


# --------------------------------------------------------------------------------------
# Training examples
# --------------------------------------------------------------------------------------

def skipgram_pairs(ids, window=5, reduced=None):
    """All (center, context) pairs of skip-gram: every word predicts its neighbours.

    ids: (n,) word ids. Position i is paired with every position j != i with
    |i - j| <= w_i, where w_i = window, or w_i = reduced[i] when ``reduced`` (n,) is
    given (word2vec's "dynamic window": w_i drawn uniformly from 1..window, so nearer
    words are used more often).
    Returns (centers, contexts), two (P,) int arrays, ordered by offset, not by
    position.
    """
    n = len(ids)
    w = np.full(n, window) if reduced is None else np.asarray(reduced)
    centers, contexts = [], []
    for d in range(1, window + 1):
        i = np.arange(n - d)
        right = w[i] >= d                  # center i, context i + d
        left = w[i + d] >= d               # center i + d, context i
        centers += [ids[i[right]], ids[i[left] + d]]
        contexts += [ids[i[right] + d], ids[i[left]]]
    return np.concatenate(centers), np.concatenate(contexts)


def cbow_windows(ids, window=5, reduced=None):
    """CBOW examples: the context words around each position, which together predict it.

    Returns (centers (n,), contexts (n, 2*window) ids, mask (n, 2*window) bool): row i
    lists the ids at offsets -window..-1, 1..window from i; mask marks those inside the
    text and inside the (possibly reduced) window.
    """
    n = len(ids)
    w = np.full(n, window) if reduced is None else np.asarray(reduced)
    offsets = np.r_[np.arange(-window, 0), np.arange(1, window + 1)]
    pos = np.arange(n)[:, None] + offsets[None, :]
    mask = (pos >= 0) & (pos < n) & (np.abs(offsets)[None, :] <= w[:, None])
    return ids, ids[np.clip(pos, 0, n - 1)], mask


def noise_distribution(counts, power=0.75):
    """Negative-sampling distribution P(w) ∝ count(w)^power.

    power 3/4: rare words more often than their frequency, frequent ones less.
    counts: (V,). Returns (V,) probabilities.
    """
    p = counts.astype(float) ** power
    return p / p.sum()


def unigram_table(counts, power=0.75, size=1_000_000):
    """word2vec.c's trick for fast sampling: a table where word w fills a share P(w) of
    the cells, so a uniform random cell is a sample from P. Returns (size,) int array.
    """
    cdf = np.cumsum(noise_distribution(counts, power))
    return np.searchsorted(cdf, (np.arange(size) + 0.5) / size).astype(np.int64)


# --------------------------------------------------------------------------------------
# The loss and its gradient
# --------------------------------------------------------------------------------------

def sgns_loss_and_grads(v, u_pos, u_neg):
    """Skip-gram negative-sampling loss for a batch, and its gradients.

    v: (B, d) center vectors (rows of W_in); u_pos: (B, d) the true context's output
    vectors; u_neg: (B, K, d) the output vectors of K sampled negative words.
    Loss (summed over the batch): -log σ(u_pos·v) - Σ_k log σ(-u_neg_k·v).
    Returns (loss, dv (B, d), du_pos (B, d), du_neg (B, K, d)).
    """
    s_pos = np.sum(v * u_pos, axis=1)                  # (B,)
    s_neg = np.einsum("bd,bkd->bk", v, u_neg)          # (B, K)
    loss = -np.sum(log_sigmoid(s_pos)) - np.sum(log_sigmoid(-s_neg))
    g_pos = sigmoid(s_pos) - 1.0                       # dloss/ds_pos
    g_neg = sigmoid(s_neg)                             # dloss/ds_neg
    dv = g_pos[:, None] * u_pos + np.einsum("bk,bkd->bd", g_neg, u_neg)
    return loss, dv, g_pos[:, None] * v, g_neg[:, :, None] * v[:, None, :]


# --------------------------------------------------------------------------------------
# Adding updates into repeated rows
# --------------------------------------------------------------------------------------

def scatter_add(W, idx, G, weights=None):
    """In place: W[idx[j]] += G[j] for every j, summing the updates of repeated rows.

    W: (V, d); idx: (n,) row numbers, repeats allowed; G: (n, d). ``W[idx] += G`` is NOT
    this: numpy computes W[idx] + G and writes the rows back one by one, so when a row
    repeats the last write wins and the other updates are lost. ``np.add.at`` is exact
    but slow. Here the sum is a sparse matrix product: S has one column per row of G and
    a 1 in column j at the row idx[j], so S @ G adds up every row's updates in compiled
    code.

    Several targets per row of G: idx (n, m) and weights (n, m) give
    W[idx[j, k]] += weights[j, k] * G[j] for all j, k, without building the (n, m, d)
    products.
    """
    n = len(G)
    # nothing to add (and reshape(0, -1) cannot infer m)
    if n == 0:
        return
    idx = idx.reshape(n, -1)
    m = idx.shape[1]
    # distinct rows, sorted
    rows = np.flatnonzero(np.bincount(idx.ravel(), minlength=len(W)))
    slot = np.empty(len(W), dtype=np.int64)
    # row -> its line in S
    slot[rows] = np.arange(len(rows))
    if weights is None:
        values = np.ones(n * m, G.dtype)
    else:
        values = weights.ravel().astype(G.dtype)
    S = sp.csc_array((values, slot[idx.ravel()], np.arange(0, n * m + 1, m)),
                     shape=(len(rows), n))
    W[rows] += S @ G


# --------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------

def init_vectors(V, dim, seed=0, dtype=np.float32):
    """word2vec's initialisation: W_in uniform in ±0.5/dim, W_out zeros.

    Returns (W_in (V, dim), W_out (V, dim)).
    """
    rng = np.random.default_rng(seed)
    return ((rng.random((V, dim)) - 0.5) / dim).astype(dtype), np.zeros((V, dim), dtype)


def train(ids, counts, dim=100, window=5, negative=5, epochs=5, lr=0.025, min_lr=1e-4,
          sample=1e-3, batch=1024, sg=True, seed=0, dtype=np.float32, exact_cbow=False):
    """Train word2vec with negative sampling on an id stream: minibatch SGD in numpy.

    ids: (n,) word ids of the corpus; counts: (V,) word counts. sg=True: skip-gram (each
    word predicts each neighbour), sg=False: CBOW (the mean of the neighbours predicts
    the word). Per epoch: subsample, draw a dynamic window per position, build all
    examples, shuffle, then SGD over minibatches of ``batch`` examples with ``negative``
    negatives each; the learning rate falls linearly from ``lr`` to ``min_lr`` over
    training, as in word2vec.c and gensim. exact_cbow: passed to :func:`cbow_step` as
    ``exact`` (False: word2vec.c's update). Returns (W_in (V, dim), W_out (V, dim),
    losses: mean loss per example of every minibatch).
    """
    rng = np.random.default_rng(seed)
    W_in, W_out = init_vectors(len(counts), dim, seed, dtype)
    keep, table = keep_probabilities(counts, sample), unigram_table(counts)
    # progress in corpus words
    losses, done, total = [], 0.0, epochs * len(ids)
    for _ in range(epochs):
        kept = subsample(ids, keep, rng)
        reduced = rng.integers(1, window + 1, size=len(kept))
        if sg:
            centers, contexts = skipgram_pairs(kept, window, reduced)
        else:
            centers, contexts, mask = cbow_windows(kept, window, reduced)
        order = rng.permutation(len(centers))
        words_per_example = len(ids) / len(order)
        for start in range(0, len(order), batch):
            b = order[start:start + batch]
            alpha = max(min_lr, lr * (1.0 - done / total))
            negs = table[rng.integers(len(table), size=(len(b), negative))]
            if sg:
                loss = sgns_step(W_in, W_out, centers[b], contexts[b], negs, alpha)
            else:
                loss = cbow_step(W_in, W_out, centers[b], contexts[b], mask[b], negs,
                                 alpha, exact_cbow)
            losses.append(loss / len(b))
            done += len(b) * words_per_example
    return W_in, W_out, np.array(losses)


def negative_sampling_update(W_out, h, targets, alpha):
    """The output side of one SGD step, shared by skip-gram and CBOW.

    W_out is updated in place. h: (B, d) input vectors; targets: (B, 1+K) word ids, the
    true word first, then K negatives. Loss per row: -log σ(u_0·h) - Σ_k log σ(-u_k·h)
    with u = W_out[targets]. A negative that happens to equal the true word is skipped,
    as in word2vec.c. Returns (loss summed over the batch,
    step_h (B, d) = -alpha * dloss/dh).
    """
    # (B, 1+K, d); take is W_out[targets], faster
    U = np.take(W_out, targets, axis=0)
    s = np.einsum("bkd,bd->bk", U, h)                  # (B, 1+K) scores u_k · h
    label = np.zeros_like(s)
    label[:, 0] = 1.0
    use = np.ones_like(s)
    use[:, 1:] = targets[:, 1:] != targets[:, :1]
    loss = -np.sum(use * log_sigmoid(np.where(label == 1.0, s, -s)))
    g = -alpha * use * (sigmoid(s) - label)            # -alpha * dloss/ds
    step_h = np.matmul(g[:, None, :], U)[:, 0, :]      # Σ_k g_k u_k        (B, d)
    scatter_add(W_out, targets, h, weights=g)          # u_k += g_k h, repeats summed
    return float(loss), step_h


def sgns_step(W_in, W_out, centers, contexts, negs, alpha):
    """One skip-gram SGD step on a minibatch of (center, context) pairs, in place.

    centers, contexts: (B,) ids; negs: (B, K) ids. Returns the summed loss of the batch.
    """
    v = np.take(W_in, centers, axis=0)                 # (B, d) = W_in[centers]
    targets = np.concatenate([contexts[:, None], negs], axis=1)
    loss, step_v = negative_sampling_update(W_out, v, targets, alpha)
    scatter_add(W_in, centers, step_v)
    return loss


def cbow_step(W_in, W_out, centers, contexts, mask, negs, alpha, exact=False):
    """One CBOW SGD step, in place: h = mean of the context vectors predicts the center.

    centers: (B,); contexts, mask: (B, 2w) from :func:`cbow_windows`; negs: (B, K).
    exact=False does what word2vec.c and gensim (cbow_mean=1) do: the whole step on h is
    added to every context word. exact=True takes the true gradient of the mean instead:
    each of the m context words gets 1/m of it (m times smaller steps on the input
    side).
    """
    # (B, 2w), rows sum to 1
    weight = mask / np.maximum(mask.sum(axis=1, keepdims=True), 1)
    weight = weight.astype(W_in.dtype)
    # (B, d) mean
    h = np.matmul(weight[:, None, :], np.take(W_in, contexts, axis=0))[:, 0, :]
    targets = np.concatenate([centers[:, None], negs], axis=1)
    loss, step_h = negative_sampling_update(W_out, h, targets, alpha)
    # masked slots: weight 0
    share = weight if exact else mask.astype(W_in.dtype)
    scatter_add(W_in, contexts, step_h, weights=share)
    return loss


# --------------------------------------------------------------------------------------
# Using the vectors
# --------------------------------------------------------------------------------------

def normalize(W):
    """Rows (V, d) scaled to unit length (zero rows stay zero): dots are cosines."""
    norms = np.linalg.norm(W, axis=1, keepdims=True)
    return W / np.where(norms == 0, 1.0, norms)


def nearest(W, words, index, query, k=5):
    """The k words whose vectors have the highest cosine with ``query``'s (not itself).

    query: a word, or a (d,) vector. Returns a list of (word, cosine).
    """
    Wn = normalize(W)
    if isinstance(query, str):
        q = Wn[index[query]]
    else:
        q = np.asarray(query) / np.linalg.norm(query)
    sims = Wn @ q
    if isinstance(query, str):
        sims[index[query]] = -np.inf
    best = np.argsort(-sims)[:k]
    return [(words[i], float(sims[i])) for i in best]


def analogy(W, words, index, a, b, c, k=1):
    """a is to b as c is to ?: the words nearest to b - a + c (unit vectors).

    a, b and c themselves are excluded. Example: on a large corpus,
    analogy(W, words, index, "man", "king", "woman") -> [("queen", cos)].
    Returns a list of k (word, cosine).
    """
    Wn = normalize(W)
    target = Wn[index[b]] - Wn[index[a]] + Wn[index[c]]
    sims = Wn @ (target / np.linalg.norm(target))
    for w in (a, b, c):
        sims[index[w]] = -np.inf
    best = np.argsort(-sims)[:k]
    return [(words[i], float(sims[i])) for i in best]


def precision_at_k(W, families, index, k=5):
    """Mean share of each family word's k nearest neighbours that are in its family.

    families: list of lists of words. Chance level is (family size - 1) / (V - 1).
    """
    Wn = normalize(W)
    sims = Wn @ Wn.T
    np.fill_diagonal(sims, -np.inf)
    family_of = np.full(len(W), -1)                               # id -> family number
    for f, fam in enumerate(families):
        family_of[[index[w] for w in fam]] = f
    hits = [np.mean(family_of[np.argsort(-sims[i])[:k]] == family_of[i])
            for i in np.flatnonzero(family_of >= 0)]
    return float(np.mean(hits))


def pca_2d(X):
    """Project the rows of X (n, d) on their first two principal components: (n, 2)."""
    Xc = X - X.mean(axis=0)
    _, _, Vt = np.linalg.svd(Xc, full_matrices=False)
    return Xc @ Vt[:2].T
