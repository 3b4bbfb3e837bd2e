"""Command line: ``python -m handson demo``, ``recommend`` and ``doctor``.

``demo`` runs the course end to end on the offline toyshop data set: load, split, extract
item features with the packaged encoders, fit every model of the library once, print a
leaderboard and save a bar plot. ``recommend`` writes the top-k of one model for given
users as raw ids (``python -m handson recommend --model EASE --users u0001 --out recs.json``).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _models(seed: int) -> dict:
    """The demo's models (name -> unfitted model): the baselines and every learned model of
    the library with its default hyper-parameters, its validation schedule included (early
    stopping, best weights kept), quiet. Neural models train with their default CPU threads.
    """
    from . import models as M

    learned = dict(seed=seed, verbose=False)
    return {
        "Random": M.Random(seed=seed),
        "MostPop": M.MostPop(),
        "ItemKNN": M.ItemKNN(),
        "EASE": M.EASE(),
        "GFCF": M.GFCF(),
        **{name: getattr(M, name)(**learned) for name in (
            "BPR", "TwoTowerMLP", "TwoTowerDot", "DAE", "MultVAE", "LightGCN", "VBPR", "FREEDOM", "BM3",
            "MMFusion")},
        # averaging image and text needs one joint space (notebook 09 builds it with
        # mini-CLIP or CLIP); with two unrelated encoders, the text alone
        "CLIPContent (text)": M.CLIPContent(modalities=("text",)),
        "CLIPContentMLP (text)": M.CLIPContentMLP(modalities=("text",), **learned),
        "ContentProfile (image + text)": M.ContentProfile(),
        "CEASE (image + text)": M.CEASE(),
        # EASE's lists re-ranked for visual diversity (notebook 11)
        "MMR (EASE, image)": M.MMR(M.EASE(), "image"),
    }


def _offline_features(ds) -> dict:
    """Image and text features from the encoders packaged for offline use (cached)."""
    from . import features
    image = features.image_features(ds, model="efficientnet-lite0")
    text = features.text_features(ds, model="all-MiniLM-L6-v2")
    return {"image": image.values, "text": text.values}


def demo(args: argparse.Namespace) -> int:
    import matplotlib
    matplotlib.use("Agg")
    from . import datasets, evaluation, plotting, split
    from .utils import cache_dir, get_device, seed_everything

    t0 = time.perf_counter()
    seed_everything(args.seed)
    print(f"handson demo · device: {get_device()} · data set: {args.dataset}")
    ds = datasets.load(args.dataset)
    print(ds.stats().round(4).to_string(), "\n")
    train, valid, test = split.random_split(ds, test=0.2, valid=0.1, seed=args.seed)
    print(f"split: train {len(train):,} · valid {len(valid):,} · test {len(test):,}\n")

    print("item features (cached after the first run):")
    feats = _offline_features(ds)
    print(f"  image {feats['image'].shape} · text {feats['text'].shape}\n")

    fitted = {}
    for name, model in _models(args.seed).items():
        t = time.perf_counter()
        model.fit(train, item_features=feats, valid=valid)
        model.fit_seconds_ = getattr(model, "fit_seconds_", time.perf_counter() - t)
        print(f"  fitted {name:<22} {model.fit_seconds_:6.1f} s")
        fitted[name] = model
    table = evaluation.compare(fitted, test, seen=[train, valid], k=(10, 20))
    table = table.sort_values("Recall@20", ascending=False)
    table["epochs"] = [len(getattr(m, "history_", [])) or None for m in (fitted[n] for n in table.index)]
    cols = [c for c in ("Recall@20", "nDCG@20", "Precision@10", "HR@10", "Coverage@20", "fit_s", "epochs")
            if c in table]
    print("\nLeaderboard (test set, seen items masked):")
    print(table[cols].round(4).to_string())

    out = Path(args.out) if args.out else cache_dir("demo")
    out.mkdir(parents=True, exist_ok=True)
    fig = plotting.metric_bars(table, metrics=("Recall@20", "nDCG@20"))
    fig.savefig(out / "leaderboard.png", dpi=120, bbox_inches="tight")
    table.to_csv(out / "leaderboard.csv")
    print(f"\nsaved {out / 'leaderboard.png'} and leaderboard.csv")

    pop = table.loc["MostPop", "Recall@20"]
    beaten = [n for n in ("EASE", "ItemKNN") if table.loc[n, "Recall@20"] > pop]
    print(f"models beating MostPop (Recall@20 {pop:.4f}): "
          f"{', '.join(n for n in table.index if table.loc[n, 'Recall@20'] > pop)}")
    print(f"demo finished in {time.perf_counter() - t0:.1f} s")
    if len(beaten) < 2:
        print("warning: EASE and ItemKNN should beat MostPop here; something is off.", file=sys.stderr)
        return 1
    return 0


def _model_names() -> list[str]:
    from . import models
    return sorted(set(models.__all__) - {"Recommender", "TorchRecommender", "MMR"})   # MMR: --mmr


def _fitted_model(args: argparse.Namespace, ds):
    """The model of ``--load``, or ``--model`` with its defaults fitted on every interaction."""
    from . import models
    if args.load:
        model = getattr(models, models.io.saved_class(args.load)).load(args.load)
        if model.n_items_ != ds.n_items:
            raise SystemExit(f"error: {args.load} was fitted on {model.n_items_} items, "
                             f"{args.dataset} has {ds.n_items}.")
        return model
    model = getattr(models, args.model)()
    if hasattr(model, "verbose"):
        model.verbose = False
    feats = _offline_features(ds) if getattr(model, "modalities", ()) else None
    model.fit(ds.interactions, item_features=feats)
    if args.save:
        print(f"saved {model.save(args.save)}", file=sys.stderr)
    return model


def _chosen_users(args: argparse.Namespace, ds) -> list:
    from . import recommendations
    if args.users_file:
        return recommendations.read_users(args.users_file)
    if args.sample_users:
        return list(recommendations.sample_users(ds, args.sample_users, seed=args.seed))
    return list(args.users)


def recommend(args: argparse.Namespace) -> int:
    """Top-k for the chosen users as raw ids: printed, or written to ``--out`` (.json or .csv).

    Any object with ``recommend(users, k, exclude_seen=, seen=)`` and ``score(users)`` can
    stand in for ``model`` here, so a re-ranking wrapper is one option and one line away."""
    from . import datasets, recommendations
    t0 = time.perf_counter()
    ds = datasets.load(args.dataset, root=args.root)
    model = _fitted_model(args, ds)
    if args.mmr is not None:      # re-rank the fitted model's lists for diversity (notebook 11)
        from .models import MMR
        model = MMR(model, _offline_features(ds)[args.mmr_space], lam=args.mmr)
    users = _chosen_users(args, ds)
    try:
        recs = recommendations.frame(model, users, args.k, ds, exclude_seen=not args.include_seen,
                                     seen=None if args.include_seen else ds.interactions)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    meta = {"dataset": args.dataset, "model": repr(model), "k": args.k, "exclude_seen": not args.include_seen}
    if args.out is None:
        cols = [c for c in ("user", "rank", "item", "score", "title") if c in recs.columns]
        print(recs[cols].to_string(index=False))
    elif args.out.endswith(".csv"):
        recommendations.to_csv(recs, args.out)
    else:
        recommendations.to_json(recs, args.out, meta=meta)
    where = f" to {args.out}" if args.out else ""
    print(f"{len(users)} users × top-{args.k} from {type(model).__name__}{where} in "
          f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


def _recommend_parser(sub) -> None:
    p = sub.add_parser("recommend", help="top-k recommendations for users, as raw ids (JSON, CSV or printed)")
    p.add_argument("--dataset", default="toyshop", help="data set name (default: toyshop)")
    p.add_argument("--root", default=None, help="folder with a local copy of the data set")
    p.add_argument("--model", default="EASE", choices=_model_names(), metavar="MODEL",
                   help="model class, fitted with its defaults on every interaction (default: EASE)")
    p.add_argument("--load", default=None, help="a model file written by model.save(path), instead of fitting")
    p.add_argument("--save", default=None, help="write the fitted model to this file")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--users", nargs="+", help="raw user ids")
    who.add_argument("--users-file", help="a file of user ids: one per line, a JSON list, or a CSV with 'user'")
    who.add_argument("--sample-users", type=int, metavar="N", help="N users drawn at random (--seed)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--include-seen", action="store_true", help="allow items the user already interacted with")
    p.add_argument("--mmr", type=float, default=None, metavar="LAMBDA",
                   help="re-rank by maximal marginal relevance, LAMBDA in [0, 1] (1: the model's own lists)")
    p.add_argument("--mmr-space", default="image", choices=("image", "text"),
                   help="feature space of --mmr's diversity (packaged offline encoders; default: image)")
    p.add_argument("--out", default=None, help="a .json or .csv file (default: print a table)")
    p.add_argument("--seed", type=int, default=42)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m handson", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="end-to-end run on toyshop: a leaderboard and a bar plot")
    p_demo.add_argument("--dataset", default="toyshop", help="data set name (default: toyshop)")
    p_demo.add_argument("--seed", type=int, default=42)
    p_demo.add_argument("--out", default=None, help="folder for leaderboard.png/.csv (default: the handson cache)")
    _recommend_parser(sub)
    sub.add_parser("doctor", help="versions, device, offline encoders, known problems")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)        # progress shows up live when piped (CI)
    if args.command == "doctor":
        from .utils import doctor
        doctor()
        return 0
    return recommend(args) if args.command == "recommend" else demo(args)


if __name__ == "__main__":
    sys.exit(main())
