"""``nonlocal-calc train``: train an MLP with the exact, nonlocal or poster activation derivative."""

from __future__ import annotations

import argparse
import json
import sys

from .options import nonnegative_int, positive_float, positive_int, unit_interval

EXAMPLES = """examples:
  nonlocal-calc train --derivative nonlocal --delta 0.1 --lr 0.1 --iters 1500      the poster's setting
  nonlocal-calc train --hidden 50,50 --optimizer adam --lr 1e-3 --batch-size 128 --iters 3000 --json
  nonlocal-calc train --data ~/mnist/ --hidden 100 --activation tanh --adaptive layer --slope-recovery
  nonlocal-calc train --iters 20000 --checkpoint run.npz --checkpoint-every 500 --resume --curves run

The embedded data set (--dataset mnist10k) is the MNIST test set by Yann LeCun, Corinna Cortes and
Christopher J. C. Burges (CC BY-SA 3.0): 9,000 training and 1,000 held-out images.
"""


def _hidden(text: str) -> tuple[int, ...]:
    text = text.strip()
    if text in ("", "0", "none"):
        return ()
    try:
        sizes = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hidden takes comma-separated widths such as 10 or 50,50, got {text!r}") from None
    if min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"hidden widths must be positive, got {text!r}")
    return sizes


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments describing the network, the derivative and the optimizer (shared with ``reproduce``)."""
    from ..nn.derivatives import DERIVATIVES
    from ..nn.model import ADAPTIVE, INITS

    g = p.add_argument_group("network")
    g.add_argument("--hidden", type=_hidden, default=(10,), metavar="W[,W...]", help="hidden widths (default 10)")
    g.add_argument("--activation", default="relu", help="catalogue activation (default relu)")
    g.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="activation parameter, e.g. --param alpha=0.5")
    g.add_argument("--activation-expr", metavar="EXPR", help='an activation formula in x instead, e.g. "x/(1+exp(-x))"')
    g.add_argument("--derivative", choices=DERIVATIVES, default="exact",
                   help="derivative used by backpropagation (default exact)")
    g.add_argument("--kernel", default="sign", help="kernel of the nonlocal derivative (default sign)")
    g.add_argument("--kernel-expr", metavar="EXPR", help='a kernel formula in z and delta instead, e.g. "z**3"')
    g.add_argument("--no-normalize", action="store_true", help="keep the raw kernel (default: D_mu x = 1)")
    g.add_argument("--delta", type=positive_float, default=0.1, help="horizon of the nonlocal derivative (default 0.1)")
    g.add_argument("--init", choices=INITS, default="auto", help="weight initialization (default auto)")
    g.add_argument("--adaptive", choices=ADAPTIVE, default="none",
                   help="adaptive slopes: global (GAAF), layer (L-LAAF), neuron (N-LAAF)")
    g.add_argument("--slope-scale", type=positive_float, default=10.0, metavar="N", help="scaling factor n (default 10)")
    g.add_argument("--slope-recovery", action="store_true", help="add the slope recovery term S(a) to the loss")
    g.add_argument("--dropout", type=unit_interval, default=0.0, metavar="RATE",
                   help="dropout rate of hidden units (0 = off)")
    g.add_argument("--loss", choices=("auto", "cross_entropy", "mse"), default="auto")
    o = p.add_argument_group("optimization")
    o.add_argument("--optimizer", choices=("gd", "sgd", "momentum", "adam"), default="gd")
    o.add_argument("--lr", type=positive_float, default=0.1, help="learning rate (default 0.1)")
    o.add_argument("--momentum", type=unit_interval, default=0.9, help="momentum coefficient (default 0.9)")
    o.add_argument("--iters", type=nonnegative_int, default=1500, help="number of parameter updates (default 1500)")
    o.add_argument("--batch-size", type=nonnegative_int, default=0, help="mini-batch size (0 = full batch, the default)")
    o.add_argument("--seed", type=nonnegative_int, default=0)
    o.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    o.add_argument("--early-stopping", type=nonnegative_int, default=0, metavar="PATIENCE",
                   help="stop when the held-out loss has not improved for PATIENCE evaluations (0 = off)")
    o.add_argument("--log-every", type=positive_int, default=10, metavar="N", help="evaluate and log every N iterations")


def pointwise_from_args(args: argparse.Namespace):  # noqa: ANN201
    """The activation / backward-derivative pair the arguments describe, and their names for the config."""
    from ..nn.derivatives import resolve
    from .derive import resolve_pair

    ns = argparse.Namespace(activation=args.activation, activation_expr=args.activation_expr, param=args.param,
                            kernel=args.kernel, kernel_expr=args.kernel_expr, no_normalize=args.no_normalize)
    act, ker = resolve_pair(ns)
    act_name = args.activation_expr or args.activation + "".join(f",{p}" for p in args.param)
    ker_name = args.kernel_expr or args.kernel + (",raw" if args.no_normalize else "")
    return resolve(act, args.derivative, ker, args.delta), act_name, ker_name


def config_from_args(args: argparse.Namespace, act_name: str, ker_name: str):  # noqa: ANN201
    from ..nn import TrainConfig

    return TrainConfig(
        hidden=args.hidden, activation=act_name, derivative=args.derivative, kernel=ker_name, delta=args.delta,
        loss=args.loss, optimizer=args.optimizer, lr=args.lr, momentum=args.momentum, iters=args.iters,
        batch_size=args.batch_size, seed=args.seed, dtype=args.dtype, init=args.init, adaptive=args.adaptive,
        slope_scale=args.slope_scale, slope_recovery=args.slope_recovery, dropout=args.dropout,
        early_stopping=args.early_stopping, log_every=args.log_every,
    )


def register(sub) -> None:  # noqa: ANN001
    p = sub.add_parser(
        "train", help="train an MLP with the exact, nonlocal or poster activation derivative",
        description="Train a dense network (Numba kernels around BLAS products) in which backpropagation uses "
                    "the exact derivative of the activation, its nonlocal derivative for a kernel and delta, or the "
                    "poster's Figure 5 code; optional adaptive slopes (GAAF, L-LAAF, N-LAAF).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = p.add_argument_group("data")
    src = d.add_mutually_exclusive_group()
    src.add_argument("--dataset", default=None, help="named data set: mnist10k (embedded, default) or laaf")
    src.add_argument("--data", metavar="PATH", help="MNIST IDX files (dir or images file), Kaggle train.csv or .npz")
    add_model_arguments(p)
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true",
                     help="print one JSON object (test_accuracy, train_accuracy, final_loss, time_per_iteration, ...)")
    out.add_argument("--curves", metavar="PREFIX", help="write learning curves to PREFIX.csv and PREFIX.png")
    out.add_argument("--checkpoint", metavar="FILE", help="save the run to FILE (atomically)")
    out.add_argument("--checkpoint-every", type=nonnegative_int, default=0, metavar="N",
                     help="also save every N iterations (0 = only at the end)")
    out.add_argument("--resume", action="store_true", help="continue the run saved in --checkpoint if it exists")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    out.add_argument("--threads", type=positive_int, default=None, metavar="N",
                     help="limit BLAS threads to N (needs threadpoolctl; 1 is faster for small layers)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..nn import load_dataset, load_path, train

    if args.resume and not args.checkpoint:
        raise ValueError("--resume needs --checkpoint FILE")
    ds = load_path(args.data) if args.data else load_dataset(args.dataset or "mnist10k")
    pw, act_name, ker_name = pointwise_from_args(args)
    cfg = config_from_args(args, act_name, ker_name)
    res = train(cfg, ds, pointwise=pw, progress=False if args.no_progress else None, checkpoint=args.checkpoint,
                checkpoint_every=args.checkpoint_every, resume=args.resume, curves=args.curves, threads=args.threads)
    if args.json:
        print(json.dumps(res.summary()))
    else:
        acc = (f"train accuracy {res.train_accuracy:.4f}, held-out accuracy {res.test_accuracy:.4f}, "
               if res.test_accuracy is not None else "")
        print(f"{res.dataset}: {res.derivative['name']}, {cfg.optimizer} lr={cfg.lr:g}, {res.iterations} iterations: "
              f"{acc}final loss {res.final_loss:.6g}, {res.time_per_iteration * 1e3:.3f} ms/iteration")
        if args.curves:
            print(f"learning curves: {args.curves}.csv, {args.curves}.png")
    if res.status != "completed":
        print(f"nonlocal-calc train: {res.status.replace('_', ' ')}: {res.message}", file=sys.stderr)
    return 1 if res.status == "diverged" else 0
