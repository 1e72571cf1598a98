"""The ``mulligan`` command line: envs, check-env, run, show, serve, bootstrap, export, train, selftrain, ..."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mulligan.envs.cli import ENV_OPTION_HELP, IMPORT_HELP, check_env, envs, parse_pairs, textworld_app
from mulligan.envs.code.cli import app as sandbox_app
from mulligan.errors import MulliganError
from mulligan.memory.cli import app as memory_app
from mulligan.report.cli import register as register_report

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Agents that correct themselves and learn from it.")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(memory_app, name="memory")
register_report(app)
console = Console()


def _fail(e: Exception) -> None:
    # soft_wrap: the message stays one line however narrow the terminal (scripts grep it).
    console.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
    raise typer.Exit(2)


def _ensure_default_policy() -> None:
    """Check the embedded policy's files before a run starts (a clear error, not one per episode)."""
    from mulligan.training.default_policy import ensure_default_policy

    ensure_default_policy()


def _parse_options(pairs: list[str]) -> dict:
    """``["trials=5", "reflector=env"]`` -> ``{"trials": 5, "reflector": "env"}`` (YAML scalars)."""
    return parse_pairs(pairs)


app.command()(envs)
app.command("check-env")(check_env)
app.add_typer(textworld_app, name="textworld")


@app.command()
def run(
    env: str = typer.Argument("mulligan/Household-v0", help="Env id (see `mulligan envs`) or package.module:Name."),
    split: Optional[str] = typer.Option(None, help="Task split (default: the suite's, e.g. household unseen)."),
    tasks: Optional[int] = typer.Option(
        None, help="Number of tasks (default: all of a finite split, 50 of an unlimited one)."
    ),
    agent: str = typer.Option("react", help="Agent: react, expert, reflexion, critic, ... or pkg.module:Class."),
    model: Optional[str] = typer.Option(None, help="Model spec (see README); default: the embedded tiny policy."),
    concurrency: int = typer.Option(8, help="Episodes in flight."),
    out: Optional[Path] = typer.Option(None, help="Run directory (default: runs/<env>-<split>-<agent>-<time>)."),
    resume: bool = typer.Option(False, help="Finish an interrupted run in --out (which must be given)."),
    retry_errors: bool = typer.Option(
        True, help="On --resume, run again the tasks whose episodes ended in a provider error."
    ),
    seed: Optional[int] = typer.Option(
        None, help="Seed of env resets, the model's sampling and a random draw of the tasks "
        "(without it: seed 0, tasks in index order from --start)."
    ),
    start: int = typer.Option(0, help="Index of the first task of the split (or of the seeded draw)."),
    suite: Optional[str] = typer.Option(None, help="Task suite of the env (default: its default suite)."),
    max_steps: Optional[int] = typer.Option(None, help="Env step cap (default: the env's)."),
    env_option: list[str] = typer.Option([], "--env-option", "-e", help=ENV_OPTION_HELP),
    imports: list[str] = typer.Option([], "--import", help=IMPORT_HELP),
    option: list[str] = typer.Option([], "--option", "-o", help="Agent option KEY=VALUE (repeatable)."),
    memory: Optional[Path] = typer.Option(None, help="Memory directory: recalled into prompts, written back after."),
    memory_option: list[str] = typer.Option([], help="Memory option KEY=VALUE: k, lessons, write, dense, ..."),
    ray: Optional[str] = typer.Option(None, help="Run episodes on a Ray cluster: auto, local or an address."),
    ray_option: list[str] = typer.Option([], help="Ray option KEY=VALUE: workers, engines, engine_gpus, ..."),
) -> None:
    """Run an agent on a task suite and print the results table."""
    from mulligan.agents import agent_needs_llm, check_agent_options
    from mulligan.envs import import_plugins, suite_default_split
    from mulligan.runner.report import episode_progress, summary_table
    from mulligan.runner.runner import RunConfig, default_task_count, run_suite

    if resume and out is None:
        _fail(MulliganError("--resume needs --out: the run directory to finish"))
    try:
        import_plugins(imports)
        split = split or suite_default_split(env, suite)
        if out is None:
            name = env.split("/")[-1].split("-")[0].lower()
            out = Path("runs") / f"{name}-{split}-{agent.rpartition(':')[2]}-{time.strftime('%Y%m%d-%H%M%S')}"
        config = RunConfig(
            env=env, split=split, suite=suite, start=start, agent=agent, model=model,
            tasks=tasks if tasks is not None else default_task_count(env, suite, split),
            concurrency=concurrency, seed=seed or 0, task_seed=seed, max_steps=max_steps, out=str(out),
            env_options=_parse_options(env_option), imports=imports,
            agent_options=_parse_options(option), memory=str(memory) if memory else None,
            memory_options=_parse_options(memory_option), ray=ray, ray_options=_parse_options(ray_option),
        )
        check_agent_options(agent, config.agent_options)
        if model in (None, "default", "vllm:default") and agent_needs_llm(agent):
            _ensure_default_policy()
        with episode_progress(None, f"{agent} on {env} {split}", console=console) as on_episode:
            result = asyncio.run(run_suite(config, resume=resume, on_episode=on_episode, retry_errors=retry_errors))
    except MulliganError as e:
        _fail(e)
    except KeyboardInterrupt:
        _interrupted(out)
    if result.retried:
        console.print(f"ran again {result.retried} task(s) whose episodes had ended in a provider error "
                      f"(the old ones are in {out / 'retried.jsonl'})")
    console.print(summary_table(result.summary, title=f"Results ({out})"))


def _interrupted(out: Path) -> None:
    """Ctrl-C: say what was kept and how to go on, in one line, and exit 130."""
    from mulligan.runner.rundir import RunDir

    try:
        saved = len({t.key for t in RunDir(out).trajectories()})
    except MulliganError:
        saved = 0
    console.print(f"interrupted: {saved} finished task(s) saved in {escape(str(out))}; "
                  "run the same command with --resume to finish", soft_wrap=True)
    raise typer.Exit(130)


@app.command()
def show(
    run_dir: Path = typer.Argument(..., help="A run directory."),
    episode: Optional[str] = typer.Option(None, help="Print the transcript of this task id."),
    failures: int = typer.Option(0, help="Print the transcripts of up to N failed episodes."),
) -> None:
    """Show a run's summary, and optionally episode transcripts."""
    from mulligan.runner.metrics import summarize
    from mulligan.runner.report import print_transcript, summary_table
    from mulligan.runner.rundir import RunDir

    try:
        rundir = RunDir(run_dir)
        config = rundir.load_config()
        trajs = rundir.trajectories()
        summary = rundir.load_summary() or {}
    except MulliganError as e:
        _fail(e)
    summary.update(summarize(trajs))
    for k in ("env", "split", "agent", "model"):
        summary.setdefault(k, config.get(k))
    console.print(summary_table(summary, title=f"Run {run_dir}"))
    if episode:
        picked = [t for t in trajs if t.task_id == episode or t.key == episode]
        if not picked:
            _fail(MulliganError(f"no episode {episode!r} in {run_dir}"))
        for t in picked:
            print_transcript(console, t)
    for t in [t for t in trajs if not t.success][:failures]:
        print_transcript(console, t)


@app.command()
def serve(
    model: Optional[str] = typer.Option(None, help="Model spec to serve (default: the embedded policy)."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (other than loopback only with --api-key)."),
    port: int = typer.Option(8000, help="Port."),
    name: str = typer.Option("mulligan-default", help="Model name reported by /v1/models (others get 404)."),
    engine: str = typer.Option("transformers", help="transformers, or vllm (the checkpoint on vLLM's engine)."),
    api_key: Optional[str] = typer.Option(
        None, envvar="MULLIGAN_API_KEY", help="Require 'Authorization: Bearer KEY' on /v1 (env MULLIGAN_API_KEY)."
    ),
    max_tokens: int = typer.Option(1024, help="Reply tokens one request may ask for at most."),
    max_input_tokens: Optional[int] = typer.Option(None, help="Prompt tokens at most (default: the model's context)."),
    max_request_kb: int = typer.Option(1024, help="Size of one request body at most, in KiB."),
    timeout: float = typer.Option(600, help="Seconds one request may take; then the model stops it (504)."),
) -> None:
    """Serve a model over an OpenAI-compatible HTTP API (/v1/chat/completions)."""
    from mulligan.llm import make_llm
    from mulligan.llm.serve import Limits, is_loopback
    from mulligan.llm.serve import serve as serve_forever
    from mulligan.llm.spec import engine_spec

    if not api_key and not is_loopback(host):
        _fail(MulliganError(f"--host {host} exposes the model beyond this machine: give --api-key "
                            "(or MULLIGAN_API_KEY), or bind 127.0.0.1"))
    limits = Limits(max_request_bytes=max_request_kb * 1024, max_tokens=max_tokens, max_input_tokens=max_input_tokens)
    try:
        if model in (None, "default"):
            _ensure_default_policy()
        llm = make_llm(engine_spec(model, engine))
    except MulliganError as e:
        _fail(e)
    console.print(f"serving {llm.name} as {name!r} on http://{host}:{port}/v1"
                  + (" (API key required)" if api_key else ""), markup=False)
    serve_forever(llm, host=host, port=port, model_name=name, api_key=api_key, limits=limits, timeout_s=timeout)


@app.command()
def bootstrap(
    rebuild: bool = typer.Option(False, help="Reproduce the policy from its recipe on this machine (CPU)."),
    out: Optional[Path] = typer.Option(None, help="Where --rebuild writes it (default: $MULLIGAN_HOME/default-policy-<digest>)."),
    eval_tasks: int = typer.Option(200, help="Unseen and seen tasks the rebuilt policy is evaluated on (0: none)."),
) -> None:
    """Check the shipped default policy, or rebuild it from its recipe (--rebuild) and evaluate it."""
    from mulligan.training.default_policy import RECIPE, build_default_policy, rebuild_dir, shipped_policy, verify_policy

    try:
        if not rebuild:
            path = shipped_policy()
            meta = verify_policy(path)
            console.print(f"default policy ready at {path} (recipe {meta['digest']}, {meta['architecture']}, "
                          f"{meta['parameters']:,} parameters; checksums match)")
            return
        path = build_default_policy(out or rebuild_dir(RECIPE), RECIPE, progress=True)
        if eval_tasks:
            from mulligan.training.policy_build import evaluate_policy

            table = Table(title=f"Rebuilt policy {RECIPE.digest()}: greedy, admissible off")
            for col in ("split", "tasks", "success", "avg steps", "invalid actions"):
                table.add_column(col, justify="right")
            for row in evaluate_policy(path, tasks=eval_tasks):
                table.add_row(row["split"], str(row["tasks"]), f"{row['success']:.1%}", f"{row['avg_steps']:.1f}",
                              f"{row['invalid']:.1%}")
            console.print(table)
    except MulliganError as e:
        _fail(e)
    console.print(f"rebuilt policy at {path}; run it with --model transformers:{path} "
                  f"or make it the default with MULLIGAN_DEFAULT_POLICY={path}")


@app.command()
def export(
    run_dirs: list[Path] = typer.Argument(..., help="Run directories (or trajectory JSONL files)."),
    fmt: str = typer.Option("sft", "--format", "-f", help="sft, rerest, step, agentr or dpo."),
    out: Path = typer.Option(..., help="Output directory: <format>.jsonl and <format>.stats.json."),
    tokenizer: Optional[Path] = typer.Option(
        None, help="Checkpoint whose tokenizer counts tokens (default: the default policy's, if built)."
    ),
    locate_errors: bool = typer.Option(
        False,
        help="Mark first errors with the household teacher before building rows (agentr; rows become teacher data).",
    ),
) -> None:
    """Export trajectories as a training dataset and print rows, tokens and trainable tokens per source."""
    from mulligan.training.export import check_format, load_tokenizer, load_trajectories
    from mulligan.training.export import export as export_rows

    try:
        check_format(fmt)
        trajs = load_trajectories(run_dirs)
        if locate_errors:
            from mulligan.envs import make_env
            from mulligan.reflection import mark_first_errors_by_teacher

            mark_first_errors_by_teacher(trajs, make_env)
        tok, note = load_tokenizer(tokenizer)
        stats = export_rows(run_dirs, fmt, out, tokenizer=tok, note=note, trajectories=trajs)
    except MulliganError as e:
        _fail(e)
    table = Table(title=f"{fmt}: {stats.path} ({stats.unit})")
    for col in ("source", "rows", "tokens", "trainable"):
        table.add_column(col, justify="left" if col == "source" else "right")
    for source, c in sorted(stats.by_source.items()) + [("total", stats.total)]:
        table.add_row(source, f"{c.rows:,}", f"{c.tokens:,}", f"{c.trainable:,}")
    console.print(table)
    if stats.note:
        console.print(f"[yellow]note:[/yellow] {escape(stats.note)}")


@app.command()
def train(
    data: Optional[Path] = typer.Argument(None, help="An exported dataset (mulligan export): <format>.jsonl."),
    model: str = typer.Option(..., help="Checkpoint to start from: a local folder, or 'default'."),
    out: Path = typer.Option(..., help="Folder for the new checkpoint (must be empty or absent)."),
    lora: bool = typer.Option(False, help="Train LoRA adapters (merged into the saved weights)."),
    dpo: bool = typer.Option(False, help="DPO on prompt/chosen/rejected rows instead of SFT."),
    epochs: Optional[float] = typer.Option(None, help="Passes over the data (default 2 for SFT, 1 for DPO)."),
    lr: Optional[float] = typer.Option(None, help="Peak learning rate (default 5e-4 SFT, 5e-5 DPO)."),
    batch_size: int = typer.Option(8, help="Rows per optimizer step."),
    max_length: int = typer.Option(2048, help="Tokens kept per row."),
    beta: float = typer.Option(0.1, help="DPO beta."),
    seed: int = typer.Option(0, help="Seed of the data order."),
    report_to: list[str] = typer.Option([], help="Tracker of TRL's logs: tensorboard, trackio, wandb, mlflow."),
    grpo: Optional[str] = typer.Option(None, metavar="ENV", help="RL with GRPO on ENV's episodes instead of DATA."),
    option: list[str] = typer.Option([], "--option", "-o", help="GRPO option KEY=VALUE (tasks, num_generations...)."),
) -> None:
    """Fine-tune a checkpoint on an exported dataset (SFT with exact masks, or DPO; LoRA optional), or with GRPO."""
    from mulligan.training.finetune import finetune

    try:
        if grpo:
            from mulligan.training.grpo_cli import train_grpo_command

            return train_grpo_command(grpo, model, out, lora=lora, epochs=epochs, lr=lr, batch_size=batch_size,
                                      seed=seed, options=_parse_options(option), console=console,
                                      report_to=report_to)
        if data is None:
            raise MulliganError("give a dataset to fine-tune on (DATA), or --grpo ENV")
        result = finetune(data, model, out, dpo=dpo, lora=lora, epochs=epochs, lr=lr, batch_size=batch_size,
                          max_length=max_length, beta=beta, seed=seed, report_to=report_to)
    except MulliganError as e:
        _fail(e)
    loss = f"{result.final_loss:.4f}" if result.final_loss is not None else "-"
    console.print(f"{result.kind} on {result.rows} rows from {result.base}: final loss {loss}, "
                  f"{result.wall_s:.0f} s -> {result.out}")


@app.command()
def selftrain(
    env: str = typer.Argument("mulligan/Household-v0", help="Environment id."),
    method: str = typer.Option("star", help="star, rerest, step, agentr or grpo."),
    iterations: int = typer.Option(3, help="Collect/export/train/evaluate rounds."),
    train_tasks: int = typer.Option(200, help="Training tasks collected on per iteration."),
    eval_tasks: int = typer.Option(200, help="Evaluation tasks per iteration."),
    out: Path = typer.Option(Path("runs/selftrain"), help="Folder of the run (iter-K/, metrics.jsonl, metrics.png)."),
    resume: bool = typer.Option(False, help="Finish an interrupted run in --out."),
    model: str = typer.Option("default", help="Bootstrap checkpoint: a local folder or 'default'."),
    samples: int = typer.Option(4, help="Samples per training task (the k of pass@k)."),
    temperature: float = typer.Option(0.3, help="Sampling temperature of the collection (larger models: 0.7-1.0)."),
    init: str = typer.Option("base", help="Fine-tune from the bootstrap ('base') or the previous checkpoint."),
    train_split: str = typer.Option("train", help="Split collected on."),
    eval_split: str = typer.Option("unseen", help="Split evaluated on."),
    concurrency: int = typer.Option(32, help="Episodes in flight."),
    option: list[str] = typer.Option([], "--option", "-o", help="Further SelfTrainConfig field KEY=VALUE."),
    report_to: list[str] = typer.Option([], help="Tracker of training and loop metrics: tensorboard, trackio, ..."),
    ray: Optional[str] = typer.Option(None, help="Collect and evaluate on a Ray cluster: auto, local or an address."),
    ray_option: list[str] = typer.Option([], help="Ray option KEY=VALUE: workers, engines, engine_gpus, ..."),
) -> None:
    """Self-train a policy: collect with it, export, fine-tune, evaluate, N times; prints the metrics table."""
    from pydantic import ValidationError

    from mulligan.options import validation_message
    from mulligan.training.methods import SelfTrainConfig
    from mulligan.training.selftrain import selftrain as run_selftrain
    from mulligan.training.selftrain_report import TABLE_WIDTH, metrics_table

    try:
        config = SelfTrainConfig(
            env=env, method=method, iterations=iterations, train_tasks=train_tasks, eval_tasks=eval_tasks,
            out=str(out), model=model, samples=samples, temperature=temperature, init=init,
            train_split=train_split, eval_split=eval_split, concurrency=concurrency, report_to=report_to,
            ray=ray, ray_options=_parse_options(ray_option), **_parse_options(option),
        )
        records = run_selftrain(config, resume=resume, console=console)
    except ValidationError as e:
        _fail(MulliganError(validation_message(e, "self-training")))
    except MulliganError as e:
        _fail(e)
    wide = Console(width=max(console.width, TABLE_WIDTH))
    wide.print(metrics_table(records, title=f"{method} on {env} ({out})"))


def main() -> None:
    try:
        app()
    except (MulliganError, OSError) as e:
        # A last net under the commands' own checks: a file problem is one line, never a traceback.
        what = f"{e.strerror}: {e.filename}" if isinstance(e, OSError) and e.filename and e.strerror else str(e)
        console.print(f"[red]error:[/red] {escape(what)}", soft_wrap=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
