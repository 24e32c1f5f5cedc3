"""Run a GitHub Actions workflow's ``run:`` blocks locally, the way the hosted runner does, through its job graph.

What is faithful (it is what the workflow's correctness depends on):

- each ``run:`` block, with its ``${{ }}`` expressions substituted, is written to a file and executed with the
  runner's own command line for the step's shell. From the runner's source
  (https://github.com/actions/runner/blob/main/src/Runner.Worker/Handlers/ScriptHandlerHelpers.cs and
  ScriptHandler.cs; documented at
  https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#jobsjob_idstepsshell):
  ``shell: bash`` runs ``bash --noprofile --norc -e -o pipefail {0}``; no shell (and no ``defaults.run.shell``)
  on Linux runs ``bash -e {0}``; ``sh`` runs ``sh -e {0}``. Composite actions must name the shell
  (https://docs.github.com/en/actions/reference/workflows-and-actions/metadata-syntax#runsstepsshell), and job
  defaults do not apply inside them;
- ``GITHUB_OUTPUT``, ``GITHUB_ENV`` and ``GITHUB_STEP_SUMMARY`` are real files, fresh for each step, read back
  after it (``name=value`` and ``name<<DELIMITER`` forms);
- step and job ``if:`` conditions with the status functions, ``continue-on-error``, ``needs`` (a job whose
  needs did not all succeed is skipped unless its condition says ``always()``), job outputs, and a matrix of
  ``include`` entries;
- local composite actions (``uses: ./...``) run their own steps with ``GITHUB_ACTION_PATH`` set.

Actions from outside the repository (``actions/checkout`` and the like) are not run: the test gives a handler
per action (e.g. upload-artifact copies files into an artifact store that download-artifact reads). Commands
the blocks call are whatever comes first on ``PATH`` (the tests put their stubs there).
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from support.workflow_expressions import condition, evaluate_value, substitute

#: The runner's argument formats (ScriptHandlerHelpers._defaultArguments); ``None`` is "no shell given" on Linux.
RUNNER_SHELLS: dict[str | None, list[str]] = {
    None: ["bash", "-e", "{0}"],
    "bash": ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "{0}"],
    "sh": ["sh", "-e", "{0}"],
}
STEP_TIMEOUT_S = 120  # a hang guard only: every block here finishes in well under a second


class StepFailedError(RuntimeError):
    """An action handler's way of failing its step (as the real action would, e.g. a role it cannot assume)."""


@dataclass
class StepResult:
    name: str
    outcome: str  # success | failure | skipped (before continue-on-error)
    conclusion: str  # success | failure | skipped (after continue-on-error)
    outputs: dict[str, str] = field(default_factory=dict)
    exit_code: int | None = None
    argv: list[str] = field(default_factory=list)
    script: str = ""
    stdout: str = ""
    stderr: str = ""


@dataclass
class JobResult:
    job: str
    matrix: dict[str, Any]
    result: str  # success | failure | skipped
    outputs: dict[str, str] = field(default_factory=dict)
    steps: list[StepResult] = field(default_factory=list)
    summary: str = ""

    def step(self, name: str) -> StepResult:
        return next(s for s in self.steps if s.name == name)


@dataclass
class WorkflowRun:
    jobs: dict[str, list[JobResult]]

    def job(self, name: str) -> JobResult:
        (only,) = self.jobs[name]
        return only

    @property
    def conclusion(self) -> str:
        results = [j.result for runs in self.jobs.values() for j in runs]
        return "failure" if "failure" in results else "success"

    def all_steps(self) -> list[StepResult]:
        return [s for runs in self.jobs.values() for j in runs for s in j.steps]


@dataclass
class ActionCall:
    """What an external action's handler gets: its inputs and the job's workspace."""

    uses: str
    inputs: dict[str, str]
    workspace: Path
    artifacts: Path


ActionHandler = Callable[[ActionCall], Mapping[str, str] | None]


def effective_shell(step: Mapping[str, Any], workflow: Mapping[str, Any], job: Mapping[str, Any]) -> str | None:
    """The step's ``shell``, else the job's then the workflow's ``defaults.run.shell``, else none."""
    for source in (step, job.get("defaults", {}).get("run", {}), workflow.get("defaults", {}).get("run", {})):
        if source.get("shell"):
            return str(source["shell"])
    return None


def runner_argv(shell: str | None, script: Path) -> list[str]:
    if shell not in RUNNER_SHELLS:
        raise NotImplementedError(f"shell {shell!r} is not modelled")
    return [str(script) if part == "{0}" else part for part in RUNNER_SHELLS[shell]]


def read_output_file(path: Path) -> dict[str, str]:
    """``name=value`` lines and ``name<<DELIMITER`` ... ``DELIMITER`` blocks, as the runner reads them."""
    values: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            block: list[str] = []
            while index < len(lines) and lines[index] != delimiter:
                block.append(lines[index])
                index += 1
            if index >= len(lines):
                raise ValueError(f"{path.name}: no closing {delimiter!r} for {name!r}")
            index += 1
            values[name] = "\n".join(block)
        else:
            name, sep, value = line.partition("=")
            if not sep:
                raise ValueError(f"{path.name}: invalid line {line!r}")
            values[name] = value
    return values


class WorkflowSimulator:
    """Runs one workflow file's jobs in ``needs`` order; see the module docstring for what is modelled."""

    def __init__(
        self,
        repo_root: Path,
        workdir: Path,
        *,
        path_dirs: list[Path],
        contexts: Mapping[str, Any],
        handlers: Mapping[str, ActionHandler],
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.repo_root = repo_root
        self.workdir = workdir
        self.path_dirs = path_dirs
        self.contexts = dict(contexts)  # github, vars, inputs (and anything else the test supplies)
        self.handlers = handlers
        self.extra_env = dict(extra_env or {})
        self.artifacts = workdir / "artifacts"
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.bash = shutil.which("bash") or "/bin/bash"

    # -- the job graph ---------------------------------------------------------------------------------------

    def run(self, workflow_path: Path) -> WorkflowRun:
        workflow = yaml.safe_load(workflow_path.read_text(encoding="utf-8"))
        jobs: dict[str, Any] = workflow["jobs"]
        done: dict[str, list[JobResult]] = {}
        while len(done) < len(jobs):
            ready = [name for name, job in jobs.items() if name not in done and set(_needs(job)) <= set(done)]
            if not ready:
                raise ValueError("cycle in needs")
            for name in ready:
                done[name] = self._run_job(workflow, name, jobs[name], done)
        return WorkflowRun(done)

    def _run_job(
        self, workflow: dict[str, Any], name: str, job: dict[str, Any], done: dict[str, list[JobResult]]
    ) -> list[JobResult]:
        needs = {
            need: {"result": _combined_result(done[need]), "outputs": _combined_outputs(done[need])}
            for need in _needs(job)
        }
        contexts = {**self.contexts, "needs": needs, "env": {}}

        def status(function: str) -> bool:
            results = [n["result"] for n in needs.values()]
            return {
                "always": True,
                "cancelled": False,
                "failure": "failure" in results,
                "success": all(r == "success" for r in results),
            }[function]

        if not condition(job.get("if"), contexts, status):
            return [JobResult(name, {}, "skipped")]
        matrices: list[dict[str, Any]] = [{}]
        strategy = job.get("strategy", {})
        if "matrix" in strategy:
            matrix = evaluate_value(strategy["matrix"], contexts)
            if set(matrix) != {"include"}:
                raise NotImplementedError("only matrix: {include: [...]} is modelled")
            matrices = list(matrix["include"])
        return [self._run_job_instance(workflow, name, job, {**contexts, "matrix": m}) for m in matrices]

    def _run_job_instance(
        self, workflow: dict[str, Any], name: str, job: dict[str, Any], contexts: dict[str, Any]
    ) -> JobResult:
        label = "-".join([name, *(str(v) for v in contexts["matrix"].values())])[:60]
        workspace = self.workdir / f"{label}-{uuid.uuid4().hex[:6]}"
        temp = workspace.with_name(workspace.name + "-temp")
        workspace.mkdir()
        temp.mkdir()
        env = {
            **{k: substitute(str(v), contexts) for k, v in (workflow.get("env") or {}).items()},
            **{k: substitute(str(v), contexts) for k, v in (job.get("env") or {}).items()},
        }
        result = JobResult(name, contexts["matrix"], "success")
        steps_context: dict[str, Any] = {}
        for index, step in enumerate(job["steps"]):
            scope = _Scope(
                {**contexts, "steps": steps_context, "env": env, "job": {"status": result.result}},
                workspace,
                temp,
                result,
            )
            outcome = self._run_step(step, index, scope, shell=effective_shell(step, workflow, job))
            if step.get("id"):
                steps_context[step["id"]] = {
                    "outputs": outcome.outputs,
                    "outcome": outcome.outcome,
                    "conclusion": outcome.conclusion,
                }
        result.outputs = {
            k: str(evaluate_value(v, {**contexts, "steps": steps_context}))
            for k, v in (job.get("outputs") or {}).items()
        }
        return result

    # -- steps -----------------------------------------------------------------------------------------------

    def _run_step(self, step: dict[str, Any], index: int, scope: _Scope, *, shell: str | None) -> StepResult:
        name = str(step.get("name") or step.get("id") or step.get("uses") or f"step {index}")
        job = scope.job

        def status(function: str) -> bool:
            return {
                "always": True,
                "cancelled": False,
                "failure": job.result == "failure",
                "success": job.result == "success",
            }[function]

        if not condition(step.get("if"), scope.contexts, status):
            skipped = StepResult(name, "skipped", "skipped")
            job.steps.append(skipped)
            return skipped
        env = {**scope.contexts["env"], **_mapping(step.get("env"), scope.contexts)}
        if "run" in step:
            outcome = self._run_block(name, step["run"], scope, shell=shell, env=env)
        else:
            outcome = self._run_action(name, str(step["uses"]), _mapping(step.get("with"), scope.contexts), scope)
        if outcome.outcome == "failure" and not step.get("continue-on-error"):
            job.result = "failure"
        elif outcome.outcome == "failure":
            outcome.conclusion = "success"
        job.steps.append(outcome)
        return outcome

    def _run_block(
        self, name: str, script_text: str, scope: _Scope, *, shell: str | None, env: dict[str, str]
    ) -> StepResult:
        """One ``run:`` block: expressions substituted, written to a file, run with the runner's command line."""
        script = scope.temp / f"{uuid.uuid4()}.sh"
        script.write_text(substitute(script_text, scope.contexts), encoding="utf-8")
        files = {
            key: scope.temp / f"{key.lower()}_{uuid.uuid4().hex}"
            for key in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STEP_SUMMARY", "GITHUB_PATH")
        }
        for path in files.values():
            path.touch()
        github = self.contexts["github"]
        process_env = {
            "PATH": ":".join([*(str(p) for p in self.path_dirs), "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": str(scope.temp),
            "LANG": "C.UTF-8",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(scope.workspace),
            "RUNNER_TEMP": str(scope.temp),
            "GITHUB_REPOSITORY": str(github.get("repository", "")),
            "GITHUB_SERVER_URL": str(github.get("server_url", "")),
            "GITHUB_RUN_ID": str(github.get("run_id", "")),
            **self.extra_env,
            **env,
            **{key: str(path) for key, path in files.items()},
        }
        if scope.action_path is not None:
            process_env["GITHUB_ACTION_PATH"] = str(scope.action_path)
        argv = runner_argv(shell, script)
        argv[0] = self.bash if argv[0] == "bash" else argv[0]
        done = subprocess.run(
            argv,
            cwd=scope.workspace,
            env=process_env,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT_S,
            check=False,
        )
        scope.contexts["env"].update(read_output_file(files["GITHUB_ENV"]))  # the job's env: later steps see it
        scope.job.summary += files["GITHUB_STEP_SUMMARY"].read_text(encoding="utf-8")
        outcome = "success" if done.returncode == 0 else "failure"
        return StepResult(
            name,
            outcome,
            outcome,
            read_output_file(files["GITHUB_OUTPUT"]),
            done.returncode,
            argv,
            script.read_text(encoding="utf-8"),
            done.stdout,
            done.stderr,
        )

    def _run_action(self, name: str, uses: str, inputs: dict[str, str], scope: _Scope) -> StepResult:
        if uses.startswith("./"):
            return self._run_composite(name, self.repo_root / uses.removeprefix("./"), inputs, scope)
        handler = self.handlers.get(uses.split("@", 1)[0])
        if handler is None:
            raise NotImplementedError(f"no handler for {uses}")
        try:
            outputs = handler(ActionCall(uses, inputs, scope.workspace, self.artifacts)) or {}
        except StepFailedError as failure:
            return StepResult(name, "failure", "failure", stderr=str(failure))
        return StepResult(name, "success", "success", dict(outputs))

    def _run_composite(self, name: str, action_dir: Path, given: dict[str, str], caller: _Scope) -> StepResult:
        """A local composite action: its inputs (defaults evaluated), its steps in order, its outputs."""
        action = yaml.safe_load((action_dir / "action.yml").read_text(encoding="utf-8"))
        if action["runs"]["using"] != "composite":
            raise NotImplementedError(f"{action_dir}: only composite actions are modelled")
        base = {
            "github": caller.contexts["github"],
            "runner": caller.contexts.get("runner", {}),
            "env": caller.contexts["env"],
        }
        inputs: dict[str, str] = {}
        for key, spec in (action.get("inputs") or {}).items():
            inputs[key] = given[key] if key in given else substitute(str((spec or {}).get("default", "")), base)
        steps_context: dict[str, Any] = {}
        inner = JobResult(f"{caller.job.job}/{name}", caller.job.matrix, "success")
        scope = _Scope({**base, "inputs": inputs, "steps": steps_context}, caller.workspace, caller.temp, inner)
        scope.action_path = action_dir
        for index, step in enumerate(action["runs"]["steps"]):
            if "run" in step and not step.get("shell"):
                raise ValueError(f"{action_dir}: composite run steps must name their shell")
            if "if" in step:
                raise NotImplementedError(f"{action_dir}: if: inside a composite action is not modelled")
            if "run" in step:
                env = {**base["env"], **_mapping(step.get("env"), scope.contexts)}
                step_name = str(step.get("name") or step.get("id") or f"step {index}")
                outcome = self._run_block(step_name, step["run"], scope, shell=step["shell"], env=env)
            else:
                uses = str(step["uses"])
                outcome = self._run_action(uses, uses, _mapping(step.get("with"), scope.contexts), scope)
            inner.steps.append(outcome)
            if step.get("id"):
                steps_context[step["id"]] = {"outputs": outcome.outputs, "outcome": outcome.outcome}
            if outcome.outcome == "failure":
                inner.result = "failure"
                break
        caller.job.summary += inner.summary
        outputs = {
            k: substitute(str(v.get("value", "")), scope.contexts) for k, v in (action.get("outputs") or {}).items()
        }
        last = inner.steps[-1] if inner.steps else StepResult(name, "success", "success")
        return StepResult(
            name,
            inner.result,
            inner.result,
            outputs,
            last.exit_code,
            last.argv,
            "\n".join(s.script for s in inner.steps),
            "".join(s.stdout for s in inner.steps),
            "".join(s.stderr for s in inner.steps),
        )


@dataclass
class _Scope:
    """Where a step runs: its expression contexts, the job's workspace and temp folder, the job it belongs to."""

    contexts: dict[str, Any]
    workspace: Path
    temp: Path
    job: JobResult
    action_path: Path | None = None


def _mapping(values: Mapping[str, Any] | None, contexts: Mapping[str, Any]) -> dict[str, str]:
    """An ``env:`` or ``with:`` mapping with its expressions substituted."""
    return {str(k): substitute(str(v), contexts) for k, v in (values or {}).items()}


def _needs(job: Mapping[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def _combined_result(runs: list[JobResult]) -> str:
    """A matrix job's result as ``needs`` sees it: failure if any instance failed."""
    results = {r.result for r in runs}
    if "failure" in results:
        return "failure"
    return "skipped" if results == {"skipped"} else "success"


def _combined_outputs(runs: list[JobResult]) -> dict[str, str]:
    outputs: dict[str, str] = {}
    for run in runs:
        outputs.update(run.outputs)
    return outputs
