"""word2vec training speed: nnutils.word2vec (numpy) vs gensim's compiled trainer, one worker.

Same corpus (Pride and Prejudice, data/), same hyper-parameters (dim 100, window 5, 5 negatives,
sample 1e-3, min_count 5, lr 0.025 -> 1e-4, 5 epochs), one thread each (threadpoolctl for
numpy's BLAS, gensim workers=1), interleaved repeats in this one process. Speed is corpus words
per second: epochs * tokens / training seconds, the same count for both. A fixed list of
analogy questions checks that both trainers produced comparable vectors.

gensim is an optional extra (requirements-bench.txt), never needed by the book or the tests:
    .venv/bin/python -m pip install -r requirements-bench.txt
    .venv/bin/python benchmarks/bench_word2vec.py [--repeats 3]
Without gensim the script prints the numpy numbers alone.
"""
import argparse
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from nnutils import word2vec as w2v

PARAMS = dict(dim=100, window=5, negative=5, epochs=5, lr=0.025, min_lr=1e-4, sample=1e-3)
MIN_COUNT = 5
# a : b :: c : d questions whose four words are all in the Pride and Prejudice vocabulary
ANALOGIES = [("man", "woman", "he", "she"), ("he", "his", "she", "her"), ("mr", "mrs", "he", "she"),
             ("brother", "sister", "father", "mother"), ("brother", "sister", "uncle", "aunt"),
             ("mr", "man", "mrs", "woman"), ("him", "his", "her", "hers"), ("he", "him", "she", "her"),
             ("husband", "wife", "man", "woman"), ("sir", "madam", "he", "she"),
             ("father", "mother", "uncle", "aunt"), ("his", "her", "himself", "herself")]


def analogy_accuracy(vectors, words, index):
    hits = [w2v.analogy(vectors, words, index, a, b, c)[0][0] == d for a, b, c, d in ANALOGIES]
    return sum(hits), len(hits)


def run_numpy(ids, counts, sg, seed):
    t0 = time.perf_counter()
    W_in, _, _ = w2v.train(ids, counts, sg=sg, seed=seed, **PARAMS)
    return time.perf_counter() - t0, W_in


def run_gensim(tokens, sg, seed):
    from gensim.models import Word2Vec

    chunks = [tokens[i:i + 10000] for i in range(0, len(tokens), 10000)]   # gensim's max sentence
    model = Word2Vec(vector_size=PARAMS["dim"], window=PARAMS["window"], negative=PARAMS["negative"],
                     sample=PARAMS["sample"], alpha=PARAMS["lr"], min_alpha=PARAMS["min_lr"],
                     min_count=MIN_COUNT, sg=int(sg), hs=0, workers=1, seed=seed)
    model.build_vocab(chunks)
    t0 = time.perf_counter()
    model.train(chunks, total_examples=len(chunks), epochs=PARAMS["epochs"])
    seconds = time.perf_counter() - t0
    words = model.wv.index_to_key
    return seconds, model.wv.vectors, words, {w: i for i, w in enumerate(words)}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    try:
        import gensim
        have_gensim = True
    except ImportError:
        have_gensim = False
    tokens = w2v.load_austen()
    words, counts, index = w2v.build_vocab(tokens, MIN_COUNT)
    ids = w2v.encode(tokens, index)
    n_words = PARAMS["epochs"] * len(tokens)
    print(f"corpus: Pride and Prejudice, {len(tokens):,} tokens, vocabulary {len(words):,} "
          f"(min_count {MIN_COUNT}); {PARAMS}")
    print("gensim", gensim.__version__ if have_gensim else "not installed: numpy numbers only")
    with threadpool_limits(limits=1):
        for sg, name in [(True, "skip-gram"), (False, "CBOW")]:
            t_np, t_gs = [], []
            for r in range(args.repeats):                            # interleaved
                seconds, W = run_numpy(ids, counts, sg, seed=r)
                t_np.append(seconds)
                if have_gensim:
                    seconds, Wg, gwords, gindex = run_gensim(tokens, sg, seed=r)
                    t_gs.append(seconds)
            line = f"{name:<10} numpy {n_words / statistics.median(t_np):>9,.0f} words/s"
            hits, total = analogy_accuracy(W, words, index)
            line += f" (analogies {hits}/{total})"
            if have_gensim:
                g_hits, _ = analogy_accuracy(Wg, gwords, gindex)
                ratio = statistics.median(t_gs) / statistics.median(t_np)
                line += (f" | gensim {n_words / statistics.median(t_gs):>9,.0f} words/s"
                         f" (analogies {g_hits}/{total}) | numpy/gensim speed {ratio:.2f}x")
            print(line + f"  [median of {args.repeats}]")


if __name__ == "__main__":
    main()
