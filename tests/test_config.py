import pytest

from videossl.config import ConfigError, get_defaults, load_config


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_defaults_have_every_family():
    cfg = get_defaults()
    for family in ("DATA", "MASK", "TARGET", "MODEL", "SOLVER", "TRAIN", "TEST", "LOG", "LAUNCH"):
        assert family in cfg, family


def test_unknown_key_in_file_names_key_and_suggestion(tmp_path):
    path = _write(tmp_path, "a.yaml", "SOLVER:\n  BASE_LRR: 0.1\n")
    with pytest.raises(ConfigError) as e:
        load_config([path])
    assert "SOLVER.BASE_LRR" in str(e.value)
    assert "SOLVER.BASE_LR'" in str(e.value)
    assert "a.yaml" in str(e.value)


def test_unknown_key_on_command_line(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config([], ["TRAIN.BATCHSIZE", "4"])
    assert "TRAIN.BATCHSIZE" in str(e.value) and "TRAIN.BATCH_SIZE" in str(e.value)


def test_base_inheritance_and_overrides(tmp_path):
    _write(tmp_path, "base.yaml", "SOLVER:\n  BASE_LR: 0.5\n  MAX_EPOCH: 7\n")
    child = _write(tmp_path, "child.yaml", "_BASE_: base.yaml\nSOLVER:\n  MAX_EPOCH: 9\n")
    cfg = load_config([child], ["SOLVER.WEIGHT_DECAY", "0.1"])
    assert cfg.SOLVER.BASE_LR == 0.5
    assert cfg.SOLVER.MAX_EPOCH == 9
    assert cfg.SOLVER.WEIGHT_DECAY == 0.1
    assert cfg.is_frozen()


def test_base_cycle_is_an_error(tmp_path):
    _write(tmp_path, "a.yaml", "_BASE_: b.yaml\n")
    b = _write(tmp_path, "b.yaml", "_BASE_: a.yaml\n")
    with pytest.raises(ConfigError, match="inherits from itself"):
        load_config([b])


@pytest.mark.parametrize(
    "opts, message",
    [
        (["DATA.TRAIN_CROP_SIZE", "100"], "TRAIN_CROP_SIZE"),
        (["DATA.NUM_FRAMES", "7"], "NUM_FRAMES"),
        (["MASK.RATIO", "1.0"], "MASK.RATIO"),
        (["MASK.RATIO", "0.0"], "MASK.RATIO"),
        (["TRAIN.BATCH_SIZE", "6", "NUM_GPUS", "4"], "world size"),
        (["TARGET.WEIGHTS", "[1.0, 2.0]"], "TARGET.WEIGHTS"),
    ],
)
def test_cross_field_rules(opts, message):
    with pytest.raises(ConfigError, match=message):
        load_config([], opts)


def test_bad_value_type_is_a_config_error():
    with pytest.raises(ConfigError, match="SOLVER.MAX_EPOCH"):
        load_config([], ["SOLVER.MAX_EPOCH", "'many'"])


def test_section_given_a_value_is_an_error(tmp_path):
    path = _write(tmp_path, "a.yaml", "SOLVER:\n  BASE_LR:\n    X: 1\n")
    with pytest.raises(ConfigError, match="SOLVER.BASE_LR"):
        load_config([path])


def test_suggestion_prefers_the_same_section():
    with pytest.raises(ConfigError) as e:
        load_config([], ["DATA.NUM_FRAME", "8"])
    assert "Did you mean 'DATA.NUM_FRAMES'?" in str(e.value)
    with pytest.raises(ConfigError) as e:
        load_config([], ["DATA.COMPLETELY_DIFFERENT", "8"])
    assert "Did you mean" not in str(e.value)


def test_every_unknown_key_is_listed_at_once(tmp_path):
    path = _write(tmp_path, "a.yaml", "SOLVER:\n  BASE_LRR: 0.1\n  MAX_EPOCHS: 3\nFOO:\n  X: 1\n")
    with pytest.raises(ConfigError) as e:
        load_config([path])
    msg = str(e.value)
    assert "3 unknown config keys" in msg
    for key in ("SOLVER.BASE_LRR", "SOLVER.MAX_EPOCHS", "FOO"):
        assert key in msg
    with pytest.raises(ConfigError) as e:
        load_config([], ["TRAIN.BATCHSIZE", "4", "DATA.NUM_FRAME", "8"])
    assert "TRAIN.BATCHSIZE" in str(e.value) and "DATA.NUM_FRAME" in str(e.value)


def test_peer_names_get_their_alias_not_a_lookalike():
    with pytest.raises(ConfigError) as e:
        load_config([], ["TRAIN.MIXED_PRECISION", "True"])
    assert "Did you mean 'TRAIN.AMP'?" in str(e.value)
    assert "EVAL_PERIOD" not in str(e.value)
    with pytest.raises(ConfigError) as e:
        load_config([], ["SOLVER.OPTIMIZING_METHOD", "sgd"])
    assert "Did you mean 'SOLVER.OPTIMIZER'?" in str(e.value)


def test_aliases_point_at_real_keys():
    from videossl.config.load import ALIASES, _all_keys

    valid = set(_all_keys(get_defaults()))
    assert all(not to or to in valid for to in ALIASES.values())
