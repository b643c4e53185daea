#!/usr/bin/env python3
"""test_h5.py: the .h5 layout, read with h5py (an HDF5 reader independent of nn/h5.c).

- The committed Keras fixtures are what Keras wrote (root attributes, layer_names, weight_names,
  datasets whose shapes follow from model_config, optimizer_weights with 2 iterations).
- A file written by nn (`$NN_BUILD/tests/test_h5 --write-sample`) has Keras 3's layout, taken
  from the Keras 3 fixture: the same attributes with the same string types, weight paths and
  optimizer variable names formed as Keras forms them, shapes that follow from its
  model_config, empty weight_names stored as h5py stores [], our class names and epoch.
- `nn summary` of the Keras fixture counts the parameters h5py finds in its datasets.
- `nn summary` (which reads no Adam moments) still gives the step count h5py finds in
  optimizer_weights, and says so when a copy has no optimizer_weights.
- A copy written by h5py with a 512-byte user block (every address in the file shifts by 512;
  nn reads large datasets by their place in the file) predicts what the original predicts,
  through the full load (`test_h5 --predict`) and nn predict's weights-only one (`--json`).
Run from the repository root with /usr/bin/python3 (python3-h5py, python3-numpy).
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover
    print("SKIP test_h5.py: python3-h5py / python3-numpy missing (%s): run make deps" % e)
    sys.exit(0)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import finish, report  # noqa: E402

FIX = "tests/fixtures"


def text(v):
    return v.decode("utf8") if isinstance(v, bytes) else str(v)


def str_kind(attrs, key):
    """('vlen'|'fixed', encoding) of a string attribute, as h5py sees it."""
    info = h5py.check_string_dtype(attrs.get_id(key).dtype)
    assert info is not None, "attribute %s is not a string" % key
    return ("vlen" if info.length is None else "fixed", info.encoding)


def layers_of(config):
    cfg = config["config"]
    return cfg if isinstance(cfg, list) else cfg["layers"]


def expected_shapes(config):
    """{layer name: [kernel shape, bias shape]} computed from model_config alone."""
    layers = layers_of(config)
    shape = None
    out = {}
    for l in layers:
        c = l["config"]
        bs = c.get("batch_shape") or c.get("batch_input_shape")
        if bs and shape is None:
            shape = list(bs[1:])
        cls = l["class_name"]
        if cls == "InputLayer":
            continue
        pair = lambda v: list(v) if isinstance(v, (list, tuple)) else [v, v]
        if cls == "Conv2D":
            kh, kw = pair(c["kernel_size"])
            sh, sw = pair(c.get("strides", 1))
            h, w, ch = shape
            if c.get("padding", "valid") == "same":
                oh, ow = -(-h // sh), -(-w // sw)
            else:
                oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
            out[c["name"]] = [[kh, kw, ch, c["filters"]]] + ([[c["filters"]]] if c.get("use_bias", True) else [])
            shape = [oh, ow, c["filters"]]
        elif cls == "MaxPooling2D":
            ph, pw = pair(c.get("pool_size", 2))
            sh, sw = pair(c.get("strides") or [ph, pw])
            h, w, ch = shape
            if c.get("padding", "valid") == "same":
                shape = [-(-h // sh), -(-w // sw), ch]
            else:
                shape = [(h - ph) // sh + 1, (w - pw) // sw + 1, ch]
            out[c["name"]] = []
        elif cls == "Flatten":
            shape = [int(np.prod(shape))]
            out[c["name"]] = []
        elif cls == "Dense":
            out[c["name"]] = [[shape[-1], c["units"]]] + ([[c["units"]]] if c.get("use_bias", True) else [])
            shape = [c["units"]]
        elif cls == "Activation":
            out[c["name"]] = []
        else:
            raise AssertionError("unexpected layer class %s" % cls)
    return out


def check_keras_file(f, keras2=False):
    for k in ("keras_version", "backend", "model_config", "training_config"):
        assert k in f.attrs, "root attribute %s missing" % k
    config = json.loads(text(f.attrs["model_config"]))
    assert config["class_name"] == "Sequential"
    shapes = expected_shapes(config)
    mw = f["model_weights"]
    names = [text(n) for n in mw.attrs["layer_names"]]
    assert names == list(shapes), "layer_names %s, model_config has %s" % (names, list(shapes))
    for k in ("backend", "keras_version"):
        assert k in mw.attrs, "model_weights attribute %s missing" % k
    trainable = []
    for name in names:
        g = mw[name]
        wn = [text(w) for w in g.attrs["weight_names"]]
        assert len(wn) == len(shapes[name]), "%s: weight_names %s" % (name, wn)
        for w, shp in zip(wn, shapes[name]):
            assert list(g[w].shape) == shp, "%s/%s has shape %s, model_config gives %s" % (name, w, g[w].shape, shp)
            assert g[w].dtype == np.float32
            assert w.endswith(":0") == keras2, "%s: weight name %s" % (name, w)
            trainable.append((w, shp))
    ow = f["optimizer_weights"]
    onames = [text(n) for n in ow.attrs["weight_names"]]
    it = [n for n in onames if n.split("/")[-1].split(":")[0] in ("iteration", "iter", "iterations")]
    assert len(it) == 1 and int(ow[it[0]][()]) == 2, "optimizer iterations: %s" % it
    moments = [n for n in onames if ow[n].shape != ()]
    assert len(moments) == 2 * len(trainable), "%d moments for %d weights" % (len(moments), len(trainable))
    return config, trainable


def test_keras3_fixture():
    with h5py.File(os.path.join(FIX, "keras_small.h5"), "r") as f:
        check_keras_file(f)
        assert text(f.attrs["keras_version"]).startswith("3.")


def test_keras2_fixtures():
    for name in ("keras2_small.h5", "keras2_legacy_fixedstr.h5"):
        with h5py.File(os.path.join(FIX, name), "r") as f:
            check_keras_file(f, keras2=True)
            assert text(f.attrs["keras_version"]).startswith("2.")
            if "fixedstr" in name:
                assert str_kind(f.attrs, "model_config")[0] == "fixed"
                assert str_kind(f["model_weights"].attrs, "layer_names")[0] == "fixed"


def write_sample(path, cfg=None):
    build = os.environ.get("NN_BUILD", "build")
    exe = os.path.join(build, "tests", "test_h5")
    if not os.access(exe, os.X_OK):
        return "%s not built (make test builds it; NN_BUILD names the build folder)" % exe
    r = subprocess.run([exe, "--write-sample", path] + ([cfg] if cfg else []), capture_output=True, text=True)
    assert r.returncode == 0, "test_h5 --write-sample: %s" % r.stderr.strip()
    return None


def test_nn_file_has_keras3_layout():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "nn.h5")
        why = write_sample(path)
        if why:
            return why
        with h5py.File(os.path.join(FIX, "keras_small.h5"), "r") as k, h5py.File(path, "r") as f:
            config, trainable = check_keras_file_nn(f)
            # string attributes stored as Keras stores them (h5py's view: vlen, same encoding)
            for key in ("keras_version", "backend", "model_config", "training_config"):
                assert str_kind(f.attrs, key) == str_kind(k.attrs, key), "root %s: %s, Keras: %s" % (
                    key, str_kind(f.attrs, key), str_kind(k.attrs, key))
            for key in ("layer_names", "backend", "keras_version"):
                assert str_kind(f["model_weights"].attrs, key) == str_kind(k["model_weights"].attrs, key), key
            # weight paths formed as Keras forms them: its "sequential/conv2d/kernel" pattern
            kconv = [text(w) for w in k["model_weights/conv2d"].attrs["weight_names"]]
            assert kconv == ["sequential/conv2d/kernel", "sequential/conv2d/bias"], kconv
            for name, g in f["model_weights"].items():
                if name == "top_level_model_weights":
                    continue
                for w in g.attrs["weight_names"]:
                    w = text(w)
                    assert w in ("sequential/%s/kernel" % name, "sequential/%s/bias" % name), w
            # layers without weights: weight_names as h5py writes [] (what Keras's file holds)
            kempty = k["model_weights/flatten"].attrs["weight_names"]
            nempty = f["model_weights/flatten"].attrs["weight_names"]
            assert nempty.dtype == kempty.dtype and nempty.shape == kempty.shape == (0,)
            assert "top_level_model_weights" in f["model_weights"]
            # optimizer variables named and ordered as Keras 3's Adam names them
            knames = [text(n) for n in k["optimizer_weights"].attrs["weight_names"]]
            assert knames[:3] == ["adam/iteration", "adam/learning_rate", "adam/sequential_conv2d_kernel_momentum"]
            want = ["adam/iteration", "adam/learning_rate"]
            for w, _ in trainable:
                want += ["adam/" + w.replace("/", "_") + "_momentum", "adam/" + w.replace("/", "_") + "_velocity"]
            ow = f["optimizer_weights"]
            got = [text(n) for n in ow.attrs["weight_names"]]
            assert got == want, "optimizer weight_names %s, expected %s" % (got, want)
            for w, shp in trainable:
                for s in ("_momentum", "_velocity"):
                    n = "adam/" + w.replace("/", "_") + s
                    assert list(ow[n].shape) == shp and ow[n].dtype == np.float32, n
            assert ow["adam/iteration"].dtype.kind == "i" and int(ow["adam/iteration"][()]) == 123457
            tc = json.loads(text(f.attrs["training_config"]))
            lr = tc["optimizer_config"]["config"]["learning_rate"]
            assert np.float32(lr) == ow["adam/learning_rate"][()] == np.float32(0.0005)
            assert tc["loss"] == "binary_crossentropy" and tc["metrics"] == ["accuracy"]
            assert tc["optimizer_config"]["class_name"] == "Adam"
            # ours: class names (UTF-8) and epoch, ignored by Keras
            assert [text(c) for c in f.attrs["nn_class_names"]] == ["cats", "chiens-\u00e9t\u00e9"]
            assert int(f.attrs["nn_epoch"]) == 7
            # Keras's layer config keys: every key we write is one Keras 3 or tf.keras 2.15 writes
            # for that class (InputLayer's batch_input_shape is tf.keras 2's: nn/keras_json.c)
            kcls = {}
            for fx in ("keras_small.h5", "keras2_small.h5"):
                with h5py.File(os.path.join(FIX, fx), "r") as kf:
                    for l in layers_of(json.loads(text(kf.attrs["model_config"]))):
                        kcls.setdefault(l["class_name"], set()).update(l["config"])
            for l in layers_of(config):
                if l["class_name"] in kcls:
                    extra = set(l["config"]) - kcls[l["class_name"]]
                    assert not extra, "%s: keys Keras does not write: %s" % (l["class_name"], extra)


def check_keras_file_nn(f):
    """check_keras_file for the nn sample (Adam state of 123457 steps, not 2)."""
    config = json.loads(text(f.attrs["model_config"]))
    shapes = expected_shapes(config)
    mw = f["model_weights"]
    names = [text(n) for n in mw.attrs["layer_names"]]
    assert names == list(shapes), "layer_names %s, model_config has %s" % (names, list(shapes))
    trainable = []
    for name in names:
        wn = [text(w) for w in mw[name].attrs["weight_names"]]
        assert len(wn) == len(shapes[name]), "%s: weight_names %s" % (name, wn)
        for w, shp in zip(wn, shapes[name]):
            assert list(mw[name][w].shape) == shp, "%s/%s has shape %s, model_config gives %s" % (
                name, w, mw[name][w].shape, shp)
            trainable.append((w, shp))
    assert [l["class_name"] for l in layers_of(config)][0] == "InputLayer"
    return config, trainable


def test_summary_of_keras_file():
    nn = os.environ.get("NN", "bin/nn")
    if not os.access(nn, os.X_OK):
        return "%s not built" % nn
    path = os.path.join(FIX, "keras_small.h5")
    r = subprocess.run([nn, "summary", path], capture_output=True, text=True)
    assert r.returncode == 0, "nn summary %s: %s" % (path, r.stderr.strip())
    with h5py.File(path, "r") as f:
        total = 0
        for name in f["model_weights"].attrs["layer_names"]:
            g = f["model_weights"][text(name)]
            for w in g.attrs["weight_names"]:
                total += g[text(w)].size
        names = [text(n) for n in f["model_weights"].attrs["layer_names"]]
    assert "Total params: {:,}".format(total) in r.stdout, "summary does not count %d params:\n%s" % (total, r.stdout)
    for n in names:
        assert n in r.stdout, "layer %s missing from the summary" % n
    assert "2 steps" in r.stdout, r.stdout
    bad = subprocess.run([nn, "summary", os.path.join(FIX, "keras_small_pred.txt")], capture_output=True, text=True)
    assert bad.returncode != 0 and bad.stderr.count("\n") == 1, bad.stderr


def test_summary_adam_state():
    nn = os.environ.get("NN", "bin/nn")
    if not os.access(nn, os.X_OK):
        return "%s not built" % nn
    with tempfile.TemporaryDirectory() as d:
        path, bare = os.path.join(d, "nn.h5"), os.path.join(d, "bare.h5")
        why = write_sample(path)
        if why:
            return why
        with h5py.File(path, "r") as f:
            steps = int(f["optimizer_weights/adam/iteration"][()])
        r = subprocess.run([nn, "summary", path], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert "%d steps taken" % steps in r.stdout, "no '%d steps taken' in:\n%s" % (steps, r.stdout)
        with h5py.File(path, "r") as f, h5py.File(bare, "w") as g:  # as include_optimizer=False
            for k, v in f.attrs.items():
                g.attrs[k] = v
            f.copy("model_weights", g)
        r = subprocess.run([nn, "summary", bare], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert "no state saved" in r.stdout and "steps taken" not in r.stdout, r.stdout


def test_userblock_copy():
    nn = os.environ.get("NN", "bin/nn")
    exe = os.path.join(os.environ.get("NN_BUILD", "build"), "tests", "test_h5")
    if not os.access(nn, os.X_OK) or not os.access(exe, os.X_OK):
        return "%s or %s not built" % (nn, exe)
    image = os.path.join(FIX, "data_modes", "gray.png")
    with tempfile.TemporaryDirectory() as d:
        cfg, path, ub = os.path.join(d, "m.cfg"), os.path.join(d, "m.h5"), os.path.join(d, "ub.h5")
        with open(cfg, "w") as f:  # a dense kernel of 1.2 MB: read (and mapped) from the file
            f.write("input 16 16 3\nconv2d filters=8 kernel=3 activation=relu\nflatten\n"
                    "dense units=192 activation=relu\ndense units=1 activation=sigmoid\n")
        why = write_sample(path, cfg)
        if why:
            return why
        with h5py.File(path, "r") as f, h5py.File(ub, "w", userblock_size=512) as g:
            for k, v in f.attrs.items():
                g.attrs.create(k, v, dtype=f.attrs.get_id(k).dtype)
            for k in f:
                f.copy(k, g)
        with h5py.File(ub, "r") as g:
            assert g.userblock_size == 512
        outs = []
        for p in (path, ub):
            r = subprocess.run([exe, "--predict", p, p + ".txt"], capture_output=True, text=True)
            assert r.returncode == 0, "test_h5 --predict %s: %s" % (p, r.stderr.strip())
            with open(p + ".txt") as f:
                pred = f.read()
            r = subprocess.run([nn, "predict", p, image, "--json"], capture_output=True, text=True)
            assert r.returncode == 0, "nn predict %s: %s" % (p, r.stderr.strip())
            outs.append((pred, json.loads(r.stdout)[0]["output"]))
        assert outs[0][0] == outs[1][0], "test_h5 --predict differs with a user block"
        assert outs[0][1] == outs[1][1], "nn predict: %r with a user block, %r without" % (outs[1][1], outs[0][1])


report("test_h5.py:keras3_fixture", test_keras3_fixture)
report("test_h5.py:keras2_fixtures", test_keras2_fixtures)
report("test_h5.py:nn_file_has_keras3_layout", test_nn_file_has_keras3_layout)
report("test_h5.py:summary_of_keras_file", test_summary_of_keras_file)
report("test_h5.py:summary_adam_state", test_summary_adam_state)
report("test_h5.py:userblock_copy", test_userblock_copy)
finish()
