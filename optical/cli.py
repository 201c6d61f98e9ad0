"""``optical`` command line: evaluate, train, run (a study of a parameter file), verify (a stored student), book."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from optical.data.schema import DataError

DATASET_HELP = ("afriqa (default: the benchmark, one corpus of all 8 languages' gold passages), afriqa-own (each "
                "language against its own gold passages: small, not the benchmark), afriqa-mini (afriqa-own with 50 "
                "questions per split: a smoke test), webfaq, or beir:<folder>")


def _languages(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _add_evaluate(sub) -> None:
    from optical.eval.system import READOUTS
    from optical.retrieval.dense import BACKENDS

    p = sub.add_parser("evaluate", help="evaluate a retrieval system per language")
    p.add_argument("--dataset", default="afriqa", help=DATASET_HELP)
    p.add_argument("--languages", help="comma-separated codes (default: the dataset's default set)")
    p.add_argument("--system", required=True,
                   help="teacher, ceiling, bm25, e5, translate-test, or a saved student directory")
    p.add_argument("--translator", help="seq2seq MT model for translate-test (hub id or directory)")
    p.add_argument("--model", default="all-MiniLM-L6-v2", help="teacher model: hub id, directory or offline alias")
    p.add_argument("--split", default="test")
    p.add_argument("--readout", choices=READOUTS, default="pooled",
                   help="pooled (mean vector, inner product) or maxsim (late interaction of query tokens with the "
                        "teacher's passage tokens; teacher, ceiling and students)")
    p.add_argument("--k", type=int, default=100, help="depth of the run")
    p.add_argument("--backend", choices=BACKENDS, default="torch",
                   help="dense search: torch (exact; GPU when present), faiss (exact), faiss-hnsw (approximate)")
    p.add_argument("--output", help="results JSON (written atomically)")
    p.add_argument("--run-file", help="also write the runs in TREC format (one file; query ids prefixed "
                                      "with the language: <lang>/<qid>)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write cached document matrices")


def _run_evaluate(args) -> int:
    from optical.eval.system import evaluate

    from optical.eval.system import check_system

    check_system(args.system, args.readout)  # before any loading
    result = evaluate(args.system, args.dataset, _languages(args.languages), args.model, args.split, args.output,
                      args.k, cache=not args.no_cache, translator=args.translator, readout=args.readout,
                      run_file=args.run_file, backend=args.backend)
    print(f"{'lang':6} {'MRR@10':>7} {'nDCG@10':>8} {'R@100':>6} {'n':>5}")
    for lang, m in {**result["languages"], "macro": result["macro"]}.items():
        print(f"{lang:6} {m['MRR@10']:7.3f} {m['nDCG@10']:8.3f} {m['R@100']:6.3f} {m.get('n_queries', ''):>5}")
    return 0


def _add_train(sub) -> None:
    from optical.config import add_config_arguments

    p = sub.add_parser("train", help="distil a student query encoder from bitext",
                       description="Every training option is a field of optical.config.TrainConfig (nested: ot, ot.sinkhorn); "
                                   "the defaults are the main experiment's. Several GPUs: accelerate launch -m "
                                   "optical train ...")
    p.add_argument("--dataset", default="afriqa", help=DATASET_HELP)
    p.add_argument("--languages", help="comma-separated codes (default: all of the dataset)")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--stop-at-step", type=int, default=None, help="pause here (checkpoint); rerun to resume")
    p.add_argument("--max-pairs", type=int, default=None, help="bitext pairs per language")
    add_config_arguments(p)


def _run_train(args) -> int:
    from optical.data.registry import default_languages
    from optical.data.training import dev_evaluator, training_bitext
    from optical.config import config_from_arguments
    from optical.train import train

    config = config_from_arguments(args)  # validated before any loading
    languages = _languages(args.languages) or default_languages(args.dataset)
    if args.max_pairs is not None and args.max_pairs < 1:
        raise ValueError(f"--max-pairs must be at least 1, got {args.max_pairs}")
    bitext = training_bitext(args.dataset, languages, args.max_pairs, config.seed)
    for b in bitext:
        print(f"bitext {b.language}: {len(b)} pairs {b.counts}")
    import torch
    from accelerate import PartialState

    from optical.models import Teacher

    state = PartialState(cpu=not torch.cuda.is_available())  # gloo processes on a CPU, one GPU each otherwise
    teacher = Teacher(config.teacher, str(state.device))  # this process's device under accelerate launch
    evaluator = dev_evaluator(args.dataset, languages, teacher.model, config.dev_select) if config.eval_every \
        else None
    result = train(config, bitext, args.output_dir, evaluator, teacher=teacher, stop_at_step=args.stop_at_step)
    where = result.output_dir / "student"
    attempt = (f" (this attempt: steps {result.resumed_from}-{result.steps} in {result.attempt_wall_s:.0f}s; "
               f"{result.wall_s:.0f}s over all attempts)" if result.resumed_from else f" in {result.wall_s:.0f}s")
    print(f"{result.steps} steps{attempt}; best dev MRR@10 {result.best_dev}; "
          f"student: {where if where.is_dir() else '(paused, rerun to resume)'}")
    return 0


def _add_book(sub) -> None:
    p = sub.add_parser("book", help="the main job: `optical run` (what the store lacks), then the notebooks "
                                    "executed with papermill on the store read-only, and the Jupyter Book built")
    p.add_argument("--params", default="params/full.yaml", help="YAML of notebook parameters")
    p.add_argument("--only", help="comma-separated notebooks to run (e.g. 00,02)")
    p.add_argument("--no-build", action="store_true", help="execute the notebooks, skip the HTML build")
    p.add_argument("--no-run", action="store_true", help="read the store only (skip `optical run`): a missing "
                                                         "result stops the build naming the command that makes it")


def _run_book(args) -> int:
    from optical.book import NotebookFailed, run_book

    try:
        manifest = run_book(args.params, _languages(args.only), build=not args.no_build, run=not args.no_run)
    except NotebookFailed as err:
        print(f"optical book: {err}", file=sys.stderr)
        return 1
    print(f"manifest: {manifest}")
    return 0


def _add_run(sub) -> None:
    p = sub.add_parser("run", help="run the studies of a parameter file: students trained and chosen on dev, final "
                                   "students read on test in every declared readout; without --study, everything "
                                   "the book reads (each chapter's studies and analyses, then every other study)")
    p.add_argument("--params", default="params/full.yaml", help="YAML of study parameters")
    p.add_argument("--study", action="append", help="a study to run (repeatable; default: everything the book reads)")
    p.add_argument("--student", action="append",
                   help="train only this student of the one --study (repeatable): a session's share of a long study")
    p.add_argument("--root", default=".", help="folder of results/ and runs/")
    p.add_argument("--fresh", action="store_true", help="recompute even where stored results match")


def _run_run(args) -> int:
    from optical.params import load_params
    from optical.studies.runner import run_study

    if args.student and len(args.study or []) != 1:
        raise ValueError("--student names students of one study: give exactly one --study")
    if not args.study:  # every chapter's studies and analyses, then every other study
        from optical.studies.chapters import run_all

        run_all(load_params(args.params, args.root), args.root, args.fresh)
        return 0
    for key in args.study:
        # compiled again before each study: a best_of rule resolves from the dev study run just before it
        out = run_study(load_params(args.params, args.root), key, args.root, args.fresh, args.student)
        print(f"{key}: {len(out['dev'])} students on dev, {len(out['test'])} test readings")
    return 0


def _add_verify(sub) -> None:
    p = sub.add_parser("verify", help="retrain one stored student from its stored parameters and compare its "
                                      "training log, dev curve and test reads with the store")
    p.add_argument("--params", default="params/full.yaml", help="YAML of study parameters")
    p.add_argument("--study", required=True, help="the study the student belongs to")
    p.add_argument("--student", required=True, help="the student (a variant, or <variant>-seed<k>)")
    p.add_argument("--seed", type=int, help="the seed: --student kd --seed 2 is kd-seed2")
    p.add_argument("--readout", action="append", help="test reads to compare (default: every readout of a final "
                                                      "study; repeatable)")
    p.add_argument("--root", default=".", help="folder of the stored results/")
    p.add_argument("--scratch", help="where the student is retrained (default: <root>/scratch/verify)")
    p.add_argument("--output", help="also write the comparison as JSON here (e.g. results/verify/<study>-<student>.json)")


def _run_verify(args) -> int:
    from optical.params import load_params
    from optical.verify import report, verify_student, write_record

    start = time.time()
    rows = verify_student(load_params(args.params, args.root), args.study, args.student, args.root, args.scratch,
                          args.readout, args.seed)
    print(report(rows))
    if args.output:
        write_record(args.output, rows, " ".join(["optical", *sys.argv[1:]]), time.time() - start)
    return 0 if all(r["ok"] for r in rows) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optical", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_evaluate(sub)
    _add_train(sub)
    _add_run(sub)
    _add_verify(sub)
    _add_book(sub)
    return parser


COMMANDS = {"evaluate": _run_evaluate, "train": _run_train, "run": _run_run, "verify": _run_verify,
            "book": _run_book}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("optical").setLevel(logging.INFO)
    try:
        return COMMANDS[args.command](args)
    except (DataError, ValueError, FileNotFoundError) as err:
        print(f"optical: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
