"""The deployment files (Dockerfile, compose.yaml, systemd units, gunicorn.conf.py, make serve)
checked against the code they start: every command, path, URL and variable they name is real.
Docker cannot run here; gunicorn can, so `make serve` is started for real."""

from __future__ import annotations

import json
import os
import re
import runpy
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet
from django.core.management import get_commands, load_command_class
from django.urls import resolve

from tests.workers import alive, command_line, descendants, wait_for

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_COMMAND = ["gunicorn", "-c", "gunicorn.conf.py", "dashboard.wsgi"]
SYNC_ARGS = ["sync_sessions", "--loop", "--interval", "60"]
WORKER_ARGS = ["db_worker", "--no-reload"]
# Set by the base image or for Python/pip themselves, not settings of ours.
NOT_OURS = {"PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"}


def read(path: str) -> str:
    return (ROOT / path).read_text()


def documented_variables() -> set[str]:
    """Every variable named in README's configuration table (`X` / `_FILE` means X and X_FILE)."""
    section = read("README.md").split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for row in section.splitlines():
        if not row.startswith("| `"):
            continue
        last = ""
        for token in re.findall(r"`([A-Z_][A-Z0-9_]*)`", row.split(" | ")[0]):
            name = last + token if token.startswith("_") else token
            names.add(name)
            last = name
    return names


def parse_command(args: list[str]) -> Any:
    """Parse `manage.py <command> <args>` with the command's own argparse parser."""
    name, *rest = args
    app = get_commands()[name]
    return load_command_class(app, name).create_parser("manage.py", name).parse_args(rest)


# --- Dockerfile -----------------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    value: str

    def exec_form(self) -> list[str]:
        words: list[str] = json.loads(self.value)
        return words


def dockerfile() -> list[Instruction]:
    text = re.sub(r"\\\n", " ", read("Dockerfile"))
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, value = line.partition(" ")
            instructions.append(Instruction(keyword.upper(), value.strip()))
    return instructions


def runtime_stage() -> list[Instruction]:
    instructions = dockerfile()
    last_from = max(i for i, ins in enumerate(instructions) if ins.keyword == "FROM")
    return instructions[last_from:]


def only(keyword: str, instructions: list[Instruction]) -> Instruction:
    [found] = [ins for ins in instructions if ins.keyword == keyword]
    return found


def env_instructions(instructions: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for ins in instructions:
        if ins.keyword == "ENV":
            env.update(word.split("=", 1) for word in shlex.split(ins.value))  # type: ignore[misc]
    return env


def test_dockerfile_is_multi_stage_slim_and_runs_as_a_non_root_user() -> None:
    froms = [ins.value for ins in dockerfile() if ins.keyword == "FROM"]
    assert len(froms) == 2 and froms[0].endswith(" AS builder")
    assert all("-slim" in line for line in froms)
    runtime = runtime_stage()
    assert any(ins.keyword == "COPY" and "--from=builder" in ins.value for ins in runtime)
    assert only("USER", runtime).value not in {"root", "0"}
    assert only("EXPOSE", runtime).value == "8000"
    assert env_instructions(runtime)["GUNICORN_BIND"].endswith(":8000")


def test_dockerfile_bakes_no_secret_into_the_image_environment() -> None:
    env = env_instructions(dockerfile())
    for secret in ("SECRET_KEY", "DASHBOARD_CREDENTIAL_KEYS", "DATABASE_URL"):
        assert not any(name.startswith(secret) for name in env)
    [collectstatic] = [
        i for i in runtime_stage() if i.keyword == "RUN" and "collectstatic" in i.value
    ]
    # The throwaway values are the step's own shell variables, and only that step's.
    assert collectstatic.value.startswith("SECRET_KEY=")
    assert "DASHBOARD_CREDENTIAL_KEYS=" in collectstatic.value


def test_dockerfile_copies_what_exists_and_dockerignore_keeps_secrets_out() -> None:
    ignored = set(read(".dockerignore").split())
    for ins in runtime_stage():
        if ins.keyword == "COPY" and not ins.value.startswith("--from"):
            *sources, _ = ins.value.split()
            for source in sources:
                assert (ROOT / source).exists(), source
                assert source not in ignored, source
    assert {"data", ".venv", "secrets", ".git"} <= ignored


def test_dockerfile_healthcheck_probes_the_real_healthz_url() -> None:
    command = only("HEALTHCHECK", runtime_stage()).value.split(" CMD ", 1)[1]
    assert json.loads(command) == ["python", "docker/healthcheck.py"]
    assert '/healthz"' in read("docker/healthcheck.py")
    assert resolve("/healthz").url_name == "healthz"


def test_dockerfile_entrypoint_and_command_are_real() -> None:
    runtime = runtime_stage()
    workdir = only("WORKDIR", runtime).value
    entrypoint = only("ENTRYPOINT", runtime).exec_form()
    assert entrypoint[0] == "/bin/sh"
    script = Path(entrypoint[1]).relative_to(workdir)
    assert (ROOT / script).is_file()
    assert only("CMD", runtime).exec_form() == GUNICORN_COMMAND
    # The entrypoint's own default, for `docker run image` with CMD overridden to nothing.
    assert "set -- " + " ".join(GUNICORN_COMMAND) in (ROOT / script).read_text()


# --- compose.yaml ---------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(read("compose.yaml"))
    return loaded


def test_compose_runs_the_dashboard_a_worker_the_scheduler_and_postgres_15() -> None:
    services = compose()["services"]
    assert set(services) == {"dashboard", "worker", "sync", "db"}
    assert services["db"]["image"] == "postgres:15"
    volume = services["db"]["volumes"][0].split(":")[0]
    assert volume in compose()["volumes"]
    assert services["dashboard"]["image"] == services["sync"]["image"]
    assert services["dashboard"]["image"] == services["worker"]["image"]
    assert services["dashboard"]["environment"]["DASHBOARD_MIGRATE_ON_START"] == "true"
    for name in ("worker", "sync"):
        assert "DASHBOARD_MIGRATE_ON_START" not in services[name]["environment"]
        # They start once the dashboard is healthy, so its migrations have run.
        assert services[name]["depends_on"]["dashboard"]["condition"] == "service_healthy"
    # The dashboard's own image CMD serves it; the published port is only the host's loopback.
    assert "command" not in services["dashboard"]
    assert services["dashboard"]["ports"] == ["127.0.0.1:8000:8000"]


def test_compose_sync_command_is_a_real_management_command_with_real_options() -> None:
    command = compose()["services"]["sync"]["command"]
    assert command[:2] == ["python", "manage.py"]
    options = parse_command(command[2:])
    assert options.loop is True and options.interval == 60.0
    assert command[2:] == SYNC_ARGS


def test_compose_worker_command_is_the_real_db_worker_without_the_autoreloader() -> None:
    worker = compose()["services"]["worker"]
    assert worker["command"][:2] == ["python", "manage.py"]
    assert worker["command"][2:] == WORKER_ARGS
    assert parse_command(WORKER_ARGS).reload is False
    # A page or an item in flight gets time to finish before docker's SIGKILL.
    assert worker["stop_grace_period"] == "60s"


def test_compose_secrets_are_defined_and_read_through_file_variables() -> None:
    loaded = compose()
    defined = set(loaded["secrets"])
    for name in ("dashboard", "worker", "sync"):
        service = loaded["services"][name]
        assert set(service["secrets"]) <= defined
        for key, value in service["environment"].items():
            if key.endswith("_FILE"):
                assert value.startswith("/run/secrets/")
                assert value.removeprefix("/run/secrets/") in service["secrets"]
        # Secrets travel as files, never as plain variables that `docker inspect` shows.
        assert not {"SECRET_KEY", "DASHBOARD_CREDENTIAL_KEYS", "DATABASE_URL"} & set(
            service["environment"]
        )
    db = loaded["services"]["db"]
    assert db["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"


# --- systemd --------------------------------------------------------------------------------------

UNITS = [
    "deploy/systemd/devin-dashboard.service",
    "deploy/systemd/devin-dashboard-sync.service",
    "deploy/systemd/devin-dashboard-worker.service",
]
INSTALL_DIR = "/opt/devin-dashboard"


def unit(path: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in read(path).splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def checkout_path(path: str) -> Path:
    return ROOT / Path(path).relative_to(INSTALL_DIR)


@pytest.mark.parametrize("path", UNITS)
def test_systemd_units_are_hardened_and_run_as_a_dedicated_user(path: str) -> None:
    values = unit(path)
    assert values["User"] == ["devin-dashboard"]
    assert values["WorkingDirectory"] == [INSTALL_DIR]
    assert values["EnvironmentFile"] == ["/etc/devin-dashboard/env"]
    for option, value in {
        "NoNewPrivileges": "true",
        "ProtectSystem": "strict",
        "PrivateTmp": "true",
        "ProtectHome": "true",
    }.items():
        assert values[option] == [value], option
    data_dir = dict(v.split("=", 1) for v in values["Environment"])["DASHBOARD_DATA_DIR"]
    assert values["ReadWritePaths"] == [data_dir]


def test_systemd_exec_start_commands_are_real() -> None:
    served = shlex.split(unit(UNITS[0])["ExecStart"][0])
    assert checkout_path(served[0]).relative_to(ROOT) == Path(".venv/bin/gunicorn")
    assert served[1] == "-c" and checkout_path(served[2]).is_file()
    assert [Path(served[0]).name, served[1], Path(served[2]).name, served[3]] == GUNICORN_COMMAND

    synced = shlex.split(unit(UNITS[1])["ExecStart"][0])
    assert checkout_path(synced[0]).relative_to(ROOT) == Path(".venv/bin/python")
    assert checkout_path(synced[1]) == ROOT / "manage.py"
    assert synced[2:] == SYNC_ARGS
    assert parse_command(synced[2:]).loop is True

    worker = shlex.split(unit(UNITS[2])["ExecStart"][0])
    assert checkout_path(worker[0]).relative_to(ROOT) == Path(".venv/bin/python")
    assert checkout_path(worker[1]) == ROOT / "manage.py"
    assert worker[2:] == WORKER_ARGS
    assert parse_command(worker[2:]).reload is False
    assert unit(UNITS[2])["Restart"] == ["always"]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    # Pointed at this checkout, so that it can also check that the executables exist.
    for path in UNITS:
        text = read(path).replace(INSTALL_DIR, str(ROOT))
        (tmp_path / Path(path).name).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", *(str(p) for p in sorted(tmp_path.iterdir()))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (0, "")


# --- the configuration table is the one list of variables ---------------------------------------


def deployment_variables() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    found["Dockerfile"] = set(env_instructions(runtime_stage()))
    services = compose()["services"]
    found["compose.yaml"] = {
        name
        for service in ("dashboard", "worker", "sync")
        for name in services[service]["environment"]
    }
    found["dashboard.env.example"] = set(
        re.findall(r"^#?([A-Z][A-Z0-9_]*)=", read("deploy/dashboard.env.example"), re.M)
    )
    found["systemd"] = {
        value.split("=", 1)[0] for path in UNITS for value in unit(path).get("Environment", [])
    }
    environ_reads = r"os\.environ\.get\(\s*\"([A-Z0-9_]+)\""
    found["gunicorn.conf.py"] = set(re.findall(r"_int\(\"([A-Z0-9_]+)\"", read("gunicorn.conf.py")))
    found["gunicorn.conf.py"] |= set(re.findall(environ_reads, read("gunicorn.conf.py")))
    found["healthcheck.py"] = set(re.findall(environ_reads, read("docker/healthcheck.py")))
    found["entrypoint.sh"] = set(re.findall(r"\$\{([A-Z0-9_]+)", read("docker/entrypoint.sh")))
    return found


def example_environment() -> dict[str, str]:
    """deploy/dashboard.env.example as set: its settings, not its commented-out secrets."""
    lines = read("deploy/dashboard.env.example").splitlines()
    return dict(line.split("=", 1) for line in lines if re.match(r"[A-Z][A-Z0-9_]*=", line))


def test_check_deploy_is_clean_with_the_shipped_example_environment(tmp_path: Path) -> None:
    env = clean_env(**example_environment(), DASHBOARD_DATA_DIR=str(tmp_path))
    assert env["ALLOWED_HOSTS"] == "dashboard.example.com"  # the file was read
    # Its secrets are commented out, to be filled in: any good values.
    env.update(
        SECRET_KEY="example-" + "s" * 50,
        DASHBOARD_CREDENTIAL_KEYS="k1:" + Fernet.generate_key().decode(),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_every_variable_the_deployment_files_set_is_in_the_readme_table() -> None:
    documented = documented_variables()
    assert {"SECRET_KEY_FILE", "DATABASE_URL", "LOG_LEVEL"} <= documented  # the parser works
    for where, names in deployment_variables().items():
        assert names, where
        assert names - NOT_OURS - documented == set(), where


def test_every_gunicorn_variable_is_in_the_readme_table() -> None:
    names = set(re.findall(r"\b(GUNICORN_[A-Z_]+)\b", read("gunicorn.conf.py")))
    assert {"GUNICORN_WORKERS", "GUNICORN_THREADS", "GUNICORN_BIND", "GUNICORN_TIMEOUT"} <= names
    assert names <= documented_variables()


# --- docs -----------------------------------------------------------------------------------------


def manage_commands_in(markdown: str) -> list[list[str]]:
    """`manage.py <command> ...` from the shell blocks, cut at the first shell operator."""
    commands = []
    for block in re.findall(r"```(?:sh|console|bash)\n(.*?)```", markdown, re.S):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            if "manage.py " not in line:
                continue
            words = shlex.split(line.split("manage.py ", 1)[1], comments=True)
            cut = next((i for i, w in enumerate(words) if w in {"|", "&&", ";", ">", "<"}), None)
            commands.append(words[:cut])
    return commands


def test_every_manage_command_in_the_deploy_guide_parses() -> None:
    commands = manage_commands_in(read("docs/deploy.md"))
    names = {command[0] for command in commands}
    assert {"migrate", "add_org", "rotate_credential_keys", "createsuperuser"} <= names
    for command in commands:
        parse_command(command)


def test_the_guide_and_readme_point_at_each_other_and_at_the_tested_script() -> None:
    guide = read("docs/deploy.md")
    assert "deploy/sqlite-to-postgres.sh" in guide
    assert (ROOT / "deploy/sqlite-to-postgres.sh").is_file()
    assert "README.md#configuration" in guide
    readme = read("README.md")
    assert "docs/deploy.md" in readme and "`make serve`" in readme


# --- running it: gunicorn.conf.py, the entrypoint, make serve, the health check -----------------


def clean_env(**extra: str) -> dict[str, str]:
    """The test run's environment without what would point a subprocess at the test settings,
    the test database or the test's secrets."""
    drop = {"DJANGO_SETTINGS_MODULE", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE", "DATABASE_URL"}
    drop |= {"SECRET_KEY", "DASHBOARD_CREDENTIAL_KEYS", "DASHBOARD_DATA_DIR"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def secrets_env(data_dir: Path) -> dict[str, str]:
    return {
        "SECRET_KEY": "deploy-test-" + "s" * 40,
        "DASHBOARD_CREDENTIAL_KEYS": "k1:" + Fernet.generate_key().decode(),
        "DASHBOARD_DATA_DIR": str(data_dir),
        "STATIC_ROOT": str(data_dir / "static"),
    }


def test_gunicorn_accepts_its_config_and_loads_the_app(tmp_path: Path) -> None:
    result = subprocess.run(
        ["gunicorn", "--check-config", *GUNICORN_COMMAND[1:]],
        cwd=ROOT,
        env=clean_env(**secrets_env(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_gunicorn_recycles_its_workers_with_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    # Safe now that web workers hold no background work: a restart loses nothing.
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert (config["max_requests"], config["max_requests_jitter"]) == (1000, 100)
    monkeypatch.setenv("GUNICORN_MAX_REQUESTS", "0")
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["max_requests"] == 0


def run_entrypoint(tmp_path: Path, migrate: str, *command: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(**secrets_env(tmp_path), DASHBOARD_MIGRATE_ON_START=migrate)
    return subprocess.run(
        ["sh", "docker/entrypoint.sh", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_entrypoint_migrates_when_asked_then_runs_the_command(tmp_path: Path) -> None:
    probe = "import sys; print('ran', sys.argv[1:])"
    result = run_entrypoint(tmp_path, "True", "python", "-c", probe, "x")
    assert result.returncode == 0, result.stderr
    assert "Applying dashboard.0001_initial... OK" in result.stdout
    assert result.stdout.rstrip().endswith("ran ['x']")
    again = run_entrypoint(tmp_path, "true", "python", "-c", probe)
    assert "No migrations to apply." in again.stdout


def test_the_entrypoint_does_not_migrate_by_default(tmp_path: Path) -> None:
    result = run_entrypoint(tmp_path, "", "python", "-c", "print('ran')")
    assert (result.returncode, result.stdout) == (0, "ran\n")
    assert not (tmp_path / "dashboard.sqlite3").exists()


def test_the_entrypoint_refuses_a_value_it_does_not_understand(tmp_path: Path) -> None:
    result = run_entrypoint(tmp_path, "sometimes", "python", "-c", "print('ran')")
    assert result.returncode == 2
    assert "DASHBOARD_MIGRATE_ON_START must be true or false" in result.stderr
    assert "ran" not in result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx then surfaces as an HTTPError carrying its own headers


@dataclass
class Served:
    port: int
    log: Path
    process: subprocess.Popen[bytes]

    def get(self, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers)
        try:
            with urllib.request.build_opener(NoRedirects).open(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def output(self) -> str:
        return self.log.read_text()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`make serve` for real, on SQLite in a temp data dir holding the secrets as files, the way
    a `make run` data dir does (so SECRET_KEY and DASHBOARD_CREDENTIAL_KEYS stay unset)."""
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    data = tmp_path_factory.mktemp("serve-data")
    (data / "secret_key").write_text("serve-test-" + "k" * 40)
    (data / "credential_keys").write_text("dev:" + Fernet.generate_key().decode())
    port = free_port()
    log = data / "output.log"
    env = clean_env(DASHBOARD_DATA_DIR=str(data), STATIC_ROOT=str(data / "static"))
    with log.open("wb") as out:
        # -o: never reinstall the venv from a test.
        process = subprocess.Popen(
            ["make", "-s", "-o", ".venv/.installed", "serve", f"PORT={port}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Served(port, log, process)
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            pytest.fail(f"make serve exited with {process.returncode}:\n{server.output()}")
        try:
            if server.get("/healthz")[0] == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail(f"make serve did not answer /healthz:\n{server.output()}")
        time.sleep(0.3)
    yield server
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def lines_with(output: str, needle: str) -> list[str]:
    return [line for line in output.splitlines() if needle in line]


def test_make_serve_runs_gunicorn_with_debug_off(served: Served) -> None:
    output = served.output()
    assert "Using worker: gthread" in output
    assert "Applying dashboard.0001_initial... OK" in output  # it migrated first
    status, _, body = served.get("/no-such-page/")
    assert status == 404
    assert b"Using the URLconf" not in body  # Django's DEBUG 404 page would list the URLs


def test_request_ids_join_the_access_line_and_the_app_line(served: Served) -> None:
    status, headers, _ = served.get("/login/", **{"X-Request-ID": "deploy-check-1"})
    assert status == 302  # no user yet: the first-run page
    assert headers["X-Request-ID"] == "deploy-check-1"
    time.sleep(0.3)  # the access line is written after the response
    output = served.output()
    [app_line] = lines_with(output, "dashboard.request request method=GET path=/login/")
    assert app_line.endswith("request_id=deploy-check-1")
    [access] = lines_with(output, "access method=GET path=/login/")
    assert " status=302 " in access and access.endswith("request_id=deploy-check-1")


def test_static_files_are_served_and_logged_by_gunicorn_alone(served: Served) -> None:
    status, headers, _ = served.get("/static/css/app.css")
    assert status == 200 and "X-Request-ID" not in headers
    time.sleep(0.3)
    output = served.output()
    [access] = lines_with(output, "access method=GET path=/static/css/app.css")
    assert access.endswith("request_id=-")
    assert not lines_with(output, "path=/static/css/app.css status=200 duration_ms")
    assert "Logging error" not in output


def run_healthcheck(port: int, allowed_hosts: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(GUNICORN_BIND=f"0.0.0.0:{port}", ALLOWED_HOSTS=allowed_hosts)
    return subprocess.run(
        [sys.executable, "docker/healthcheck.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_container_healthcheck_passes_against_the_running_server(served: Served) -> None:
    assert run_healthcheck(served.port, "localhost,127.0.0.1").returncode == 0
    assert run_healthcheck(served.port, ".localhost").returncode == 0


def test_the_container_healthcheck_fails_when_it_gets_no_200(served: Served) -> None:
    refused = run_healthcheck(free_port(), "localhost")
    assert refused.returncode == 1 and "healthz:" in refused.stderr
    # A host the server does not answer to: Django's 400, not a pass.
    assert run_healthcheck(served.port, "elsewhere.example").returncode == 1


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_make_serve_runs_a_worker_and_the_scheduler_and_all_stop_on_sigterm(
    served: Served,
) -> None:
    # make's recipe execs `manage.py supervise`, make's one child, which runs gunicorn with a
    # background worker and the scheduler beside it. Stop it as a service manager would: all
    # three end, and make with them.
    [supervisor] = children_of(served.process.pid)
    assert "supervise" in command_line(supervisor)
    tree = descendants(supervisor)
    commands = [" ".join(command_line(pid)) for pid in tree]
    for role in ("gunicorn -c gunicorn.conf.py", "db_worker --no-reload", "sync_sessions --loop"):
        assert any(role in command for command in commands), (role, commands)
    os.kill(supervisor, signal.SIGTERM)
    assert served.process.wait(timeout=60) == 0
    assert "Shutting down: Master" in served.output()
    wait_for(lambda: not any(alive(pid) for pid in tree), 30, "every child to end")
