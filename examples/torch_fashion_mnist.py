#!/usr/bin/env python3
"""torch_fashion_mnist.py: examples/fashion_mnist.c's run in PyTorch, for comparison only.

The same data (the IDX files of Debian's dataset-fashion-mnist, read here with gzip and
numpy), the same preprocessing (pixels scaled to [0, 1], then standardised with the training
set's mean and population standard deviation), the same model (784-256-128-10, ReLU,
PyTorch's default initialisation), the same optimiser and schedule (Adam, lr 1e-3 annealed
to 0 by CosineAnnealingLR over the run), batches of 128 drawn from a fresh permutation each
epoch, the test accuracy after every epoch and the same summary line. Batches are taken by
indexing the training tensor with the permutation (no DataLoader, whose per-sample collation
would slow PyTorch down several times); the epoch time covers training and the test pass,
as in the C program.

    python3 examples/torch_fashion_mnist.py [--epochs 15] [--batch 128] [--lr 1e-3]
        [--schedule cosine|constant] [--seed 0] [--threads 1] [--data DIR]

Needs python3-torch and python3-numpy (Debian packages); not part of agrad's build.
"""
import argparse
import gzip
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def read_idx(path):
    """The array stored in an IDX file (unsigned bytes), shaped by its dims."""
    if not os.path.exists(path):
        print(f"{path}: not found. Install the Debian package dataset-fashion-mnist, "
              "or pass --data DIR with the four IDX files.", file=sys.stderr)
        sys.exit(2)
    with gzip.open(path, "rb") as f:
        data = f.read()
    if data[0] or data[1] or data[2] != 0x08:
        sys.exit(f"{path}: not an IDX file of unsigned bytes")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * k:8 + 4 * k], "big") for k in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(directory, part):
    """Images flattened to 784 values in [0, 1], and their labels."""
    x = read_idx(f"{directory}/{part}-images-idx3-ubyte.gz").reshape(-1, 784)
    y = read_idx(f"{directory}/{part}-labels-idx1-ubyte.gz")
    return (torch.from_numpy(x.astype(np.float32) / 255),
            torch.from_numpy(y.astype(np.int64)))


def train_epoch(model, opt, x, y, batch, gen):
    """One pass over a fresh permutation; mean loss and accuracy of the batches trained on."""
    perm = torch.randperm(len(x), generator=gen)
    loss_sum, correct = 0.0, 0
    for i in range(0, len(x), batch):
        idx = perm[i:i + batch]
        xb, yb = x[idx], y[idx]
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_sum += loss.item() * len(idx)
        correct += (logits.argmax(1) == yb).sum().item()
    return loss_sum / len(x), correct / len(x)


@torch.no_grad()
def test_accuracy(model, x, y):
    """The fraction of the test set classified right, in batches of 1000."""
    correct = 0
    for i in range(0, len(x), 1000):
        correct += (model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--schedule", choices=["cosine", "constant"], default="cosine")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr, ytr = load(a.data, "train")
    xte, yte = load(a.data, "t10k")
    mean, std = xtr.mean(), xtr.std(unbiased=False)
    xtr, xte = (xtr - mean) / std, (xte - mean) / std

    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, a.epochs)
             if a.schedule == "cosine" else None)
    gen = torch.Generator().manual_seed(a.seed)
    print(f"torch {torch.__version__}: {len(xtr)} training and {len(xte)} test samples; "
          f"adam, lr {a.lr:g} ({a.schedule}), {a.batch} per batch, {a.epochs} epochs, "
          f"{a.threads} thread{'s' if a.threads > 1 else ''}, seed {a.seed}")
    width = len(str(a.epochs))
    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        loss, train_acc = train_epoch(model, opt, xtr, ytr, a.batch, gen)
        test_acc = test_accuracy(model, xte, yte)
        if sched:
            sched.step()
        print(f"epoch {epoch:{width}d}/{a.epochs}  loss {loss:.4f}  train {100 * train_acc:.2f}%"
              f"  test {100 * test_acc:.2f}%  {time.perf_counter() - t0:.2f} s", flush=True)


if __name__ == "__main__":
    main()
