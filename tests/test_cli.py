from __future__ import annotations

import subprocess
import sys
from typing import Any

import anyio
import pytest

import anybreaker._demo
from anybreaker import CircuitBreaker, CircuitState
from anybreaker._cli import main
from anybreaker._demo import run_demo


def test_cli_help_names_units(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--help"])

    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    for option in ("--calls", "--interval", "--failure-rate", "--fail-max"):
        assert option in help_text

    assert "seconds to wait between calls" in help_text
    assert "seconds the circuit stays open" in help_text
    assert "probability from 0 to 1" in help_text


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--calls", "0"], "argument --calls: expected a whole number >= 1, got 0"),
        (["--calls", "two"], "argument --calls: expected a whole number, got 'two'"),
        (["--fail-max", "-1"], "argument --fail-max: expected a whole number >= 1"),
        (["--failure-rate", "1.5"], "expected a number from 0 to 1, got 1.5"),
        (["--interval", "-1"], "expected a finite number of seconds >= 0, got -1"),
        (["--interval", "nan"], "expected a finite number of seconds >= 0, got nan"),
        (["--reset-timeout", "0"], "expected a finite number of seconds > 0, got 0"),
        (["--seed", "x"], "argument --seed: invalid int value: 'x'"),
        (["--colour"], "unrecognized arguments: --colour"),
    ],
)
def test_cli_bad_option_exits_2(
    capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", *arguments])

    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("usage: anybreaker")
    assert message in error


def test_cli_requires_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])

    assert exit_info.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_cli_demo_runs_as_module() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "anybreaker",
            "demo",
            "--calls",
            "7",
            "--interval",
            "0",
            "--seed",
            "2",
            "--ascii",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[:5] == [
        "Call 1: ok",
        "Call 2: ok",
        "Call 3: FAIL",
        "Call 4: FAIL",
        "* closed -> open",
    ]
    # With no pause between calls the reset timeout never passes.
    assert lines[5] == "Call 5: rejected, open (retry in 3.0 s)"
    assert lines[-1] == (
        "7 calls: 2 succeeded, 2 failed, 3 rejected; the circuit ends open"
    )


def test_cli_falls_back_to_ascii() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "anybreaker", "demo", "--calls", "2", "--interval", "0"],
        capture_output=True,
        env={"PYTHONIOENCODING": "ascii", "PATH": ""},
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.isascii()
    assert completed.stdout.startswith("Call 1: ")


@pytest.mark.parametrize("mode", [[], ["--http"]], ids=["plain", "http"])
def test_cli_closed_stdout_exits_quietly(mode: list[str]) -> None:
    # 100 calls 0.05 s apart keep the demo writing long after its first line.
    # The command line is fixed: this interpreter and the anybreaker module.
    with subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "anybreaker",
            "demo",
            *mode,
            "--calls",
            "100",
            "--interval",
            "0.05",
            "--ascii",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        process.stdout.close()
        try:
            _, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise

    assert first_line
    assert stderr == ""
    assert process.returncode == 1


def test_demo_output_error_not_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    breakers: list[CircuitBreaker] = []

    def record_breaker(**settings: Any) -> CircuitBreaker:
        breaker = CircuitBreaker(**settings)
        breakers.append(breaker)
        return breaker

    def closed_stdout(line: str) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(anybreaker._demo, "CircuitBreaker", record_breaker)
    with pytest.raises(BrokenPipeError):
        anyio.run(
            lambda: run_demo(
                calls=3, interval=0, failure_rate=0.0, fail_max=1, out=closed_stdout
            )
        )

    [breaker] = breakers
    assert breaker.failure_count == 0
    assert breaker.state is CircuitState.CLOSED


def test_cli_missing_httpx_shows_demo_usage(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # None in sys.modules makes the import of the module raise ImportError.
    monkeypatch.setitem(sys.modules, "anybreaker._demo_http", None)
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--http"])

    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("usage: anybreaker demo ")
    assert "error: --http needs httpx, which is not installed" in error
    assert "pip install 'anybreaker[httpx]'" in error
