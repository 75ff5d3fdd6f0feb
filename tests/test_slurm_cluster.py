"""The real-Slurm test set-up installs system packages only with consent."""

import subprocess

import slurm_cluster


def test_no_consent_no_install(monkeypatch):
    monkeypatch.delenv("VIDEOSSL_SLURM_TESTS", raising=False)
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    reason = slurm_cluster.unavailable_reason()
    assert reason is not None and "VIDEOSSL_SLURM_TESTS=1" in reason
    assert calls == []


def test_consent_is_explicit(monkeypatch):
    monkeypatch.setenv("VIDEOSSL_SLURM_TESTS", "0")
    assert "VIDEOSSL_SLURM_TESTS=1" in slurm_cluster.unavailable_reason()
