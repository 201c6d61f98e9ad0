"""faiss (exact ``IndexFlatIP`` and approximate HNSW) vs the package's torch exact search, same inputs.

Synthetic unit vectors: ``--docs`` (default 1,000,000) x 384 documents and ``--queries`` (1,000) queries. Prints
one line per backend with its time, the peak resident memory it added (``ru_maxrss`` of a fresh child
process) and the share of the torch top-10 it returns, then the time ratios.
Usage: ``python benchmarks/bench_retrieval.py [--docs 1000000 --queries 1000 --dim 384]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import time


def _run(backend: str, n_docs: int, n_queries: int, dim: int, out) -> None:
    import numpy as np

    from optical.retrieval.dense import exact_search

    rng = np.random.default_rng(0)
    docs = rng.standard_normal((n_docs, dim), dtype=np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    queries = docs[rng.choice(n_docs, n_queries, replace=False)] + 0.05 * rng.standard_normal((n_queries, dim),
                                                                                              dtype=np.float32)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    run = exact_search(queries, docs, [str(i) for i in range(n_queries)], [str(i) for i in range(n_docs)], k=10,
                       backend=backend)
    seconds = time.perf_counter() - start
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    out.put((backend, seconds, peak, {q: list(d) for q, d in run.items()}))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--docs", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--dim", type=int, default=384)
    args = p.parse_args()
    results = {}
    for backend in ("torch", "faiss", "faiss-hnsw"):  # one child each: peak memory is the backend's own
        queue = mp.get_context("spawn").Queue()
        child = mp.get_context("spawn").Process(target=_run, args=(backend, args.docs, args.queries, args.dim,
                                                                   queue))
        child.start()
        results[backend] = queue.get()
        child.join()
    reference = results["torch"][3]
    for backend, (name, seconds, peak, run) in results.items():
        overlap = sum(len(set(run[q]) & set(reference[q])) for q in reference) / (10 * len(reference))
        print(json.dumps({"backend": backend, "seconds": round(seconds, 2), "added_peak_MB": round(peak),
                          "top10_overlap_with_torch": round(overlap, 4)}))
    print(f"ratio faiss/torch={results['faiss'][1] / results['torch'][1]:.2f} "
          f"faiss-hnsw/torch={results['faiss-hnsw'][1] / results['torch'][1]:.2f} "
          f"(docs={args.docs} queries={args.queries} dim={args.dim})")


if __name__ == "__main__":
    main()
