"""The CPU named in benchmark results and the bf16 check, read from /proc/cpuinfo files the tests write."""

from pathlib import Path

from ferkit.devices import cpu_has_native_bf16, cpu_model

ZEN3 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx avx2 fma

processor\t: 1
model name\t: something else
flags\t\t: avx512f avx512_bf16
"""
ZEN4 = ZEN3.replace("model\t\t: 1\n", "model\t\t: 17\n").replace("avx2 fma\n", "avx2 fma avx512f avx512_bf16\n", 1)


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    return str(path)


def test_cpu_model_names_generation_and_vector_unit(tmp_path):
    assert cpu_model(_write(tmp_path, ZEN3)) == "AMD EPYC (family 25 model 1; AVX2)"
    assert cpu_model(_write(tmp_path, ZEN4)) == "AMD EPYC (family 25 model 17; AVX512-BF16)"


def test_bf16_is_read_from_the_first_processor_only(tmp_path, monkeypatch):
    monkeypatch.delenv("FERKIT_CPU_BF16", raising=False)  # the suite sets it (tests/conftest.py)
    assert not cpu_has_native_bf16(_write(tmp_path, ZEN3))  # the second block's flags must not count
    assert cpu_has_native_bf16(_write(tmp_path, ZEN4))


def test_ferkit_cpu_bf16_0_forces_fp32_on_a_bf16_cpu(tmp_path, monkeypatch):
    zen4 = _write(tmp_path, ZEN4)
    monkeypatch.setenv("FERKIT_CPU_BF16", "0")
    assert not cpu_has_native_bf16(zen4)
    monkeypatch.setenv("FERKIT_CPU_BF16", "1")  # only 0 switches it off
    assert cpu_has_native_bf16(zen4)


def test_recipes_train_in_bf16_where_the_cpu_has_it_unless_they_pin_fp32():
    from ferkit.train.config import Recipe
    from ferkit.train.recipes import get_recipe

    assert Recipe(name="r").cpu_amp is True
    assert get_recipe("fer2013-ablate-cutmix-v1").cpu_amp is False  # ablations compare like for like with their fp32 base
    assert get_recipe("fer2013-bf16check-fp32-v1").cpu_amp is False


def test_without_cpuinfo_the_platform_name_stands_and_bf16_is_off(tmp_path):
    missing = str(tmp_path / "absent")
    assert cpu_model(missing) and "family" not in cpu_model(missing)
    assert not cpu_has_native_bf16(missing)


def test_cpu_amp_trains_in_fp32_where_bf16_would_be_emulated(monkeypatch):
    """A long run started with cpu_amp on an AVX512-BF16 host resumes on an AVX2 host in fp32, and says so."""
    import torch

    from ferkit.train import setup
    from ferkit.train.config import Recipe

    said: list[str] = []
    cpu = torch.device("cpu")
    monkeypatch.setattr(setup, "cpu_has_native_bf16", lambda: False)
    assert setup._use_amp(Recipe(name="r", cpu_amp=True), cpu, said.append) is False
    assert len(said) == 1 and "training in fp32" in said[0]
    monkeypatch.setattr(setup, "cpu_has_native_bf16", lambda: True)
    assert setup._use_amp(Recipe(name="r", cpu_amp=True), cpu, said.append) is True
    assert setup._use_amp(Recipe(name="r", cpu_amp=False), cpu, said.append) is False
    assert len(said) == 1
