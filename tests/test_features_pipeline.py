"""The image pipeline's overlap and device logic, on CPU with small modules and mocks.

Decoding runs ahead of the forward pass (a background thread, or DataLoader processes);
each batch's output is collected after the next batch is launched; batches are pinned for
CUDA; progress prints one line when nobody watches a terminal.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from handson import features  # noqa: E402
from handson.features import images  # noqa: E402
from handson.features.extract import ChunkedRun, OneLine, progress_bar  # noqa: E402

from test_features import mean_colour, shop  # noqa: E402,F401


@pytest.fixture()
def files(tmp_path):
    paths = []
    for i in range(7):
        p = tmp_path / f"{i}.png"
        Image.new("RGB", (10, 6), (30 * i, 255 - 30 * i, 7)).save(p)
        paths.append(str(p))
    pre = features.Preprocess((4, 4), None, (0.0,) * 3, (1.0,) * 3)
    return images.ImageFiles(paths, np.arange(7), pre)


def test_thread_batches_match_sequential_decoding_and_run_ahead(files, monkeypatch):
    seen_threads = set()
    original = images.load_rgb

    def spy(path, pre=None):
        seen_threads.add(threading.current_thread().name)
        return original(path, pre)

    monkeypatch.setattr(images, "load_rgb", spy)
    got = list(images.batches(files, 3, workers=0, device="cpu"))
    assert [b[0].tolist() for b in got] == [[0, 1, 2], [3, 4, 5], [6]]
    expected = np.stack([original(p, files.pre)[0] for p in files.paths])
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in got]), expected)
    assert seen_threads and all(name.startswith("handson-decode") for name in seen_threads)


def test_cuda_batches_are_pinned(files, monkeypatch):
    pinned = []

    def fake_pin(self):
        pinned.append(self.shape)
        return self

    monkeypatch.setattr(torch.Tensor, "pin_memory", fake_pin)
    out = list(images.batches(files, 4, workers=0, device="cuda"))
    assert pinned == [(4, 4, 4, 3), (3, 4, 4, 3)] and len(out) == 2
    assert list(images.batches(files, 4, workers=0, device="cpu")) and len(pinned) == 2


def test_forward_batch_normalises_channels_last():
    seen = {}

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen["channels_last"] = x.is_contiguous(memory_format=torch.channels_last)
            return x.mean(dim=(2, 3))

    x = torch.randint(0, 256, (2, 5, 5, 3), dtype=torch.uint8)
    mean, std = images.normalisation(features.Preprocess(5, None, (0.5,) * 3, (0.25,) * 3), "cpu")
    module = images.prepare_module(Probe(), "cpu")
    out = images.forward_batch(module, x, mean, std, "cpu")
    ref = ((x.permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.25).mean(dim=(2, 3))
    torch.testing.assert_close(out, ref)
    assert seen["channels_last"] and not module.training


def test_output_collected_after_the_next_batch_is_launched(files):
    events = []

    class Logged(torch.nn.Module):
        def forward(self, x):
            events.append(("forward", len(x)))
            return x.float().mean(dim=(2, 3))

    class Run(ChunkedRun):
        def add(self, index, values, status, mode):
            events.append(("add", len(index)))
            super().add(index, values, status, mode)

    run = Run(None, "k", 7)
    bar = OneLine(7, "t", "img")
    d = images._encode(Logged(), files.pre, images.batches(files, 3, 0, "cpu"), run, bar, "cpu")
    assert d == 3 and bar.n == 7
    assert events == [("forward", 3), ("forward", 3), ("add", 3), ("forward", 1), ("add", 3), ("add", 1)]


def test_worker_processes_give_the_same_rows_and_fallbacks(shop, tmp_path):  # noqa: F811
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        threads = features.image_features(shop, mean_colour(), cache=False, num_workers=0, progress=False)
        procs = features.image_features(shop, mean_colour(), cache=False, num_workers=1, batch_size=3,
                                        progress=False)
    np.testing.assert_allclose(procs.values, threads.values, atol=1e-6)
    assert procs.mask.tolist() == threads.mask.tolist() and procs.report["unreadable"] == 2


def test_progress_is_one_line_when_not_a_terminal(capsys):
    bar = progress_bar(10, "images · x", "img", show=True)     # pytest's stderr is not a terminal
    assert isinstance(bar, OneLine)
    for _ in range(10):
        bar.update(1)
    bar.close()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "images · x: 10/10 img in" in err
    silent = progress_bar(10, "x", "img", show=False)
    silent.update(10)
    silent.close()
    assert capsys.readouterr().err == ""
