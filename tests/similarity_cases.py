"""Honest independent solutions of ch01_linear and planted copies of them, for measuring
coursegrade.similarity (tests/test_similarity.py; the rates are stated in
coursegrade/README.md).

HONEST: one entry per (simulated) author, each writing all three tasks in their own way;
the first two come from tests/grading_corpus (the instructor's solution as a correct
student would write it; the corpus' `lambda` linear_scores and partly wrong
`network_forward`), the rest are further correct or partly wrong styles (np.dot, einsum,
loops, hstack, reduce...). The corpus' own variants (`partial`, `lambda_solution`...)
each change one task of the instructor's solution, so they are not independent work and
are not used as honest pairs. Short tasks have few sensible ways to be written, so
honest authors share idioms: that is what the false-positive rate measures.

`plant(code, seed)` makes a copy as a student hiding it would: every local name and
helper renamed, the functions of a cell in another order, comments and blank lines
added.
"""

import ast
import io
import keyword
import random
import tokenize

from grading_corpus import WRONG, solution_sources

SOL = solution_sources()

HONEST = {
    "corpus_correct": dict(SOL),
    # the corpus' other answers (its `lambda` linear_scores, its partly wrong
    # network_forward)
    # with a bias_trick of this author's own
    "corpus_variants": {
        "linear_scores": "linear_scores = lambda X, W, b: X @ W.T + b\n",
        "bias_trick": '''def bias_trick(X, W, b):
    one = np.ones((*X.shape[:-1], 1))
    X1 = np.concatenate([X, one], axis=X.ndim - 1)
    W1 = np.concatenate([W, b.reshape(-1, 1)], axis=1)
    return X1, W1
''',
        "network_forward": WRONG["network_forward"],
    },
    "dot": {
        "linear_scores": "def linear_scores(X, W, b):\n    return np.dot(X, W.T) + b\n",
        "bias_trick": '''def bias_trick(X, W, b):
    if X.ndim == 1:
        X1 = np.append(X, 1.0)
    else:
        X1 = np.hstack([X, np.ones((X.shape[0], 1))])
    W1 = np.hstack([W, b.reshape(-1, 1)])
    return X1, W1
''',
        "network_forward": '''def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def network_forward(X, params):
    out = X
    for i in range(len(params)):
        W, b = params[i]
        out = np.dot(out, W) + b
        if i < len(params) - 1:
            out = sigmoid(out)
    return out
''',
    },
    "einsum": {
        "linear_scores": '''def linear_scores(X, W, b):
    scores = np.einsum("...d,cd->...c", X, W)
    return scores + b
''',
        "bias_trick": '''def bias_trick(X, W, b):
    ones = np.ones(X.shape[:-1] + (1,))
    return np.concatenate((X, ones), axis=-1), np.column_stack((W, b))
''',
        "network_forward": '''def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def network_forward(X, params):
    *hidden, (W_last, b_last) = params
    h = X
    for W, b in hidden:
        h = sigmoid(h @ W + b)
    return h @ W_last + b_last
''',
    },
    "loops": {
        "linear_scores": '''def linear_scores(X, W, b):
    single = X.ndim == 1
    X2 = np.atleast_2d(X)
    S = np.zeros((X2.shape[0], W.shape[0]))
    for i in range(X2.shape[0]):
        for c in range(W.shape[0]):
            S[i, c] = np.sum(W[c] * X2[i]) + b[c]
    return S[0] if single else S
''',
        "bias_trick": '''def bias_trick(X, W, b):
    X1 = np.insert(X, X.shape[-1], 1.0, axis=-1)
    W1 = np.insert(W, W.shape[1], b, axis=1)
    return X1, W1
''',
        "network_forward": '''def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def network_forward(X, params):
    n = len(params)
    a = X
    k = 0
    while k < n:
        W, b = params[k]
        a = a @ W + b
        if k != n - 1:
            a = 1 / (1 + np.exp(-a))
        k += 1
    return a
''',
    },
    "matmul": {
        "linear_scores": "def linear_scores(X, W, b):\n"
        "    return np.matmul(X, W.transpose()) + b\n",
        "bias_trick": '''def bias_trick(X, W, b):
    pad = [(0, 0)] * (X.ndim - 1) + [(0, 1)]
    X1 = np.pad(X, pad, constant_values=1.0)
    W1 = np.concatenate([W, b[:, np.newaxis]], axis=1)
    return X1, W1
''',
        "network_forward": '''def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def network_forward(X, params):
    def layer(Z, Wb):
        return np.matmul(Z, Wb[0]) + Wb[1]
    Z = X
    for Wb in params[:-1]:
        Z = sigmoid(layer(Z, Wb))
    return layer(Z, params[-1])
''',
    },
    "reduce": {
        "linear_scores": '''def linear_scores(X, W, b):
    return (W @ X.T).T + b
''',
        "bias_trick": '''def bias_trick(X, W, b):
    X1 = np.concatenate([X, np.ones_like(X[..., :1])], axis=-1)
    W1 = np.c_[W, b]
    return X1, W1
''',
        "network_forward": '''from functools import reduce


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def network_forward(X, params):
    act = lambda Z, Wb: sigmoid(Z @ Wb[0] + Wb[1])
    Z = reduce(act, params[:-1], X)
    W, b = params[-1]
    return Z @ W + b
''',
    },
    "tensordot": {
        "linear_scores": '''def linear_scores(X, W, b):
    out = np.tensordot(X, W, axes=([-1], [1]))
    out = out + b
    return out
''',
        "bias_trick": '''def bias_trick(X, W, b):
    X = np.asarray(X, dtype=float)
    extra = np.ones(list(X.shape[:-1]) + [1])
    new_X = np.concatenate([X, extra], -1)
    new_W = np.concatenate([W, np.expand_dims(b, 1)], 1)
    return new_X, new_W
''',
        "network_forward": '''def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def network_forward(X, params):
    layers = list(params)
    y = X
    for idx, (W, b) in enumerate(layers):
        z = y @ W + b
        last = idx == len(layers) - 1
        y = z if last else sigmoid(z)
    return y
''',
    },
    "partly_wrong_bias": {  # forgets the single-vector case of bias_trick
        "linear_scores": "def linear_scores(X, W, b):\n    return X.dot(W.T) + b\n",
        "bias_trick": '''def bias_trick(X, W, b):
    N = X.shape[0]
    X1 = np.hstack((X, np.ones((N, 1))))
    W1 = np.hstack((W, b[:, None]))
    return X1, W1
''',
        "network_forward": '''def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def network_forward(X, params):
    result = X
    for number, pair in enumerate(params):
        result = result @ pair[0] + pair[1]
        if number + 1 < len(params):
            result = sigmoid(result)
    return result
''',
    },
    "partly_wrong_layers": {  # sigmoid after every layer, the last one too
        "linear_scores": '''def linear_scores(X, W, b):
    S = X @ W.T
    S += b
    return S
''',
        "bias_trick": '''def bias_trick(X, W, b):
    if X.ndim == 1:
        X1 = np.concatenate([X, [1.0]])
    else:
        X1 = np.concatenate([X, np.ones((len(X), 1))], 1)
    return X1, np.concatenate([W, b.reshape(len(b), 1)], 1)
''',
        "network_forward": '''def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def network_forward(X, params):
    for W, b in params:
        X = sigmoid(X @ W + b)
    return X
''',
    },
}

GRADED = {"linear_scores", "bias_trick", "network_forward"}


def _renames(code, rng):
    """Names defined in `code` (arguments, locals, helpers) -> new names; not graded
    ones."""
    tree = ast.parse(code)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.Lambda)):
            names.update(a.arg for a in node.args.args + node.args.kwonlyargs)
            if node.args.vararg:
                names.add(node.args.vararg.arg)
            if isinstance(node, ast.FunctionDef):
                names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    names -= GRADED
    pool = [
        "inputs",
        "weights",
        "bias",
        "value",
        "acc",
        "tmp",
        "layer_out",
        "k",
        "mat",
        "vec",
        "activation",
        "params_list",
        "res",
        "count",
        "stack",
        "aux",
        "hidden_h",
        "ww",
        "bb",
    ]
    rng.shuffle(pool)
    return {n: f"{pool[i % len(pool)]}{i}" for i, n in enumerate(sorted(names))}


def _rename(code, mapping):
    toks = list(tokenize.generate_tokens(io.StringIO(code).readline))
    out = []
    for i, t in enumerate(toks):
        prev = toks[i - 1].string if i else ""
        if (
            t.type == tokenize.NAME
            and t.string in mapping
            and prev != "."
            and not keyword.iskeyword(t.string)
        ):
            t = t._replace(string=mapping[t.string])
        out.append(t)
    return tokenize.untokenize(out)


def _reorder(code, rng):
    """Top-level statements of a cell: function definitions shuffled, the rest kept."""
    tree = ast.parse(code)
    lines = code.splitlines()
    blocks = []
    for node in tree.body:
        start = min(
            [node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]
        )
        blocks.append((node, "\n".join(lines[start - 1 : node.end_lineno])))
    defs = [b for n, b in blocks if isinstance(n, ast.FunctionDef)]
    other = [b for n, b in blocks if not isinstance(n, ast.FunctionDef)]
    rng.shuffle(defs)
    if len(defs) > 1 and defs == [
        b for n, b in blocks if isinstance(n, ast.FunctionDef)
    ]:
        defs.reverse()
    return "\n\n\n".join(other + defs) + "\n"


COMMENTS = [
    "# compute the result",
    "# loop over layers",
    "# my own approach",
    "# TODO: tidy up",
    "# shapes checked by hand",
    "# see lecture notes",
]


def _comment(code, rng):
    out = []
    for line in code.splitlines():
        stripped = line.lstrip()
        if (
            stripped
            and not stripped.startswith(("#", "@", ")", "]", "}"))
            and rng.random() < 0.5
        ):
            out.append(line[: len(line) - len(stripped)] + rng.choice(COMMENTS))
        out.append(line)
        if stripped.startswith("return") and rng.random() < 0.5:
            out.append("")
    return "\n".join(out) + "\n"


def plant(answers, seed):
    """A disguised copy of `answers` ({grade_id: code}): renamed, reordered, noted."""
    rng = random.Random(seed)
    out = {}
    for gid, code in answers.items():
        code = _reorder(code, rng)
        code = _rename(code, _renames(code, rng))
        out[gid] = _comment(code, rng)
    return out


def as_document(answers):
    """What coursegrade.similarity compares for a submission with these answers."""
    order = ["linear_scores", "bias_trick", "network_forward"]
    return "\n".join(
        f"# cell {gid}\n{answers[gid]}\n" for gid in order if gid in answers
    )
