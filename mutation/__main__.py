"""`make mutate`: mutation testing of the modules that carry the guarantees, with cosmic-ray; a report, like
`make bench`, not part of `make test`.

Each module is mutated one change at a time (a comparison flipped, `and` for `or`, a `not` added, a number moved
by one, a loop run zero times, a caught exception replaced, ...) and the tests that cover it are run against each
mutant: a mutant the tests still pass is a behaviour nothing checks. The run happens in scratch copies of the
working tree under `.mutation/` (an interrupted run never leaves a mutant in the sources), two modules at a time,
and writes the score per module and every survivor to `mutation/results.md`.

    make mutate                        every module below
    make mutate MODULES=soap,auth      only these (by short name)
    MUTATE_LIMIT=50 make mutate        at most 50 mutants per module, spread evenly (a quick look)

Each module's outcome is kept in .mutation/<name>.json; the report shows every module's last run.

    MUTATE_RESUME=1 make mutate        go on from an interrupted run: for each module whose source is unchanged
                                       since its session began, the mutants already killed stay killed (tests
                                       are only ever added) and the rest, survivors included, are run
    .venv/bin/python -m mutation status   how far each session got, and what survived so far
    .venv/bin/python -m mutation report   results.md again, a session not finished counted as far as it got

Mark a line `# pragma: no mutate` only with a reason beside it (e.g. a cache size no behaviour depends on).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / os.environ.get("MUTATE_SCRATCH", ".mutation")  # another folder: a second run beside the first
RESULTS = ROOT / "mutation" / "results.md"
RESUME = os.environ.get("MUTATE_RESUME") == "1"  # go on from the last session of an unchanged module
LAYER = "layers/sf_edge/sf_edge"


@dataclass(frozen=True)
class Target:
    """A module that carries a guarantee, and the tests that should notice when it breaks (fast ones first)."""

    name: str
    path: str
    tests: tuple[str, ...]
    guarantee: str
    sample: int | None = None  # at most this many mutants, evenly spread (its tests are slow: a full run takes hours)
    keyword: str = ""  # pytest -k: leave out whole-stack tests that only repeat what the named files check faster


# The write-back loop through `make run`'s stack (40 s of the file's 80): the client and delivery tests above them
# check the same rules one call at a time.
WRITE_BACK_WITHOUT_MAKE_RUN = "not won_opportunity and not salesforce_down and not make_run_records"

TARGETS = (
    Target(
        "sender_verification",
        f"{LAYER}/outbound/sender_verification.py",
        ("tests/integration/test_outbound_rejections.py", "tests/integration/test_listener_handler.py"),
        "only allowed orgs (and source ranges) are heard",
    ),
    Target(
        "token_verifier",
        f"{LAYER}/token_verifier.py",
        (
            "tests/integration/test_outbound_rejections.py",
            "tests/integration/test_hostile_input.py",
            "tests/integration/test_callouts.py",
        ),
        "a shared secret is compared in constant time, every rotated one accepted",
    ),
    Target(
        "settings",
        f"{LAYER}/settings.py",
        (
            "tests/unit/test_settings_reading.py",
            "tests/integration/test_settings.py",
            "tests/integration/test_listener_handler.py",
        ),
        "a bad setting stops the function at start, naming it and never showing a secret",
    ),
    Target(
        "soap",
        f"{LAYER}/outbound/soap.py",
        (
            "tests/integration/test_outbound_rejections.py",
            "tests/integration/test_hostile_input.py",
            "tests/e2e/test_hostile_corpus.py",
        ),
        "hostile XML is refused before it is parsed",
    ),
    Target(
        "intake",
        f"{LAYER}/outbound/intake.py",
        (
            "tests/integration/test_outbound_rejections.py",
            "tests/integration/test_faults.py",
            "tests/integration/test_enqueue.py",
            "tests/integration/test_listener_handler.py",
        ),
        "an Ack only after every notification is enqueued",
    ),
    Target(
        "sqs_publisher",
        f"{LAYER}/aws/sqs_publisher.py",
        ("tests/integration/test_enqueue.py",),
        "all-or-error enqueueing",
    ),
    Target(
        "notification_worker",
        "functions/notification_worker/notification_worker.py",
        (
            "tests/integration/test_worker.py",
            "tests/integration/test_event_relay.py",
            "tests/integration/test_large_notifications.py",
            "tests/integration/test_convergence.py",
        ),
        "each notification applied once, failures retried alone",
    ),
    Target(
        "expressions",
        f"{LAYER}/odata/expressions.py",
        (
            "tests/unit/test_odata_evaluation.py",
            "tests/unit/test_odata_expressions.py",
            "tests/unit/test_odata_engine.py",
            "tests/unit/test_odata_tree.py",
        ),
        "$filter means what OData says",
    ),
    Target(
        "tree",
        f"{LAYER}/odata/tree.py",
        (
            "tests/unit/test_odata_tree.py",
            "tests/unit/test_odata_evaluation.py",
            "tests/unit/test_odata_expressions.py",
            "tests/unit/test_odata_planner.py",
            "tests/unit/test_odata_engine.py",
        ),
        "one row per operator and function: what binds, evaluates and pushes down",
    ),
    Target(
        "engine",
        f"{LAYER}/odata/engine.py",
        ("tests/unit/test_odata_engine.py", "tests/unit/test_odata_scale.py", "tests/unit/test_odata_search.py"),
        "the right rows, a page at a time",
    ),
    Target(
        "planner",
        f"{LAYER}/odata/planner.py",
        (
            "tests/unit/test_odata_planner.py",
            "tests/unit/test_odata_engine.py",
            "tests/unit/test_odata_scale.py",
            "tests/unit/test_odata_salesforce_shapes.py",
            "tests/unit/test_odata_tree.py",
        ),
        "a request reads a page, never the table",
    ),
    Target(
        "writes",
        f"{LAYER}/odata/writes.py",
        ("tests/unit/test_odata_writes.py", "tests/e2e/test_odata_review.py", "tests/e2e/test_odata_feed.py"),
        "validated, conditional writes",
    ),
    Target(
        "callout_auth",
        f"{LAYER}/callouts/auth.py",
        ("tests/integration/test_callouts.py",),
        "callers are who they claim",
    ),
    Target(
        "callout_idempotency",
        f"{LAYER}/callouts/idempotency.py",
        ("tests/integration/test_callouts.py",),
        "a retried callout answers as the first",
    ),
    Target(
        "rest_client",
        f"{LAYER}/salesforce/rest_client.py",
        ("tests/integration/test_write_back.py",),
        "Salesforce's errors classified; a rejected session renewed once",
        keyword=WRITE_BACK_WITHOUT_MAKE_RUN,
    ),
    Target(
        "write_back_delivery",
        f"{LAYER}/write_back/delivery.py",
        ("tests/integration/test_write_back.py",),
        "each write-back lands once, the newest wins, refusals are dead-lettered",
        keyword=WRITE_BACK_WITHOUT_MAKE_RUN,
    ),
    Target(
        "relayed_events",
        f"{LAYER}/salesforce/relayed_events.py",
        (
            "tests/unit/test_relayed_events.py",
            "tests/integration/test_event_relay.py",
            "tests/integration/test_events.py",
        ),
        "a relayed event is applied as Salesforce changed it",
    ),
    Target(
        "customer_repository",
        f"{LAYER}/order_system/customer_repository.py",
        (
            "tests/integration/test_customer_repository.py",
            "tests/integration/test_event_relay.py",
            "tests/integration/test_convergence.py",
        ),
        "changes converge in any order",
    ),
    Target(
        "item_table",
        f"{LAYER}/aws/item_table.py",
        (
            "tests/integration/test_item_table.py",
            "tests/unit/test_conditional_writes.py",
            "tests/integration/test_customer_repository.py",
        ),
        "the order system's reads are consistent, its queries whole and its failed conditions ConditionNotMet",
    ),
)

# One or two meaningful replacements per operator. Left out: `|` variants (nearly all are type annotations, which
# `from __future__ import annotations` makes inert), exotic arithmetic (`**`, shifts, bitwise) and decorator removal
# (caches): they add mutants no test could ever tell apart, not information.
KEPT_OPERATORS = (
    "ReplaceComparisonOperator_(Eq_NotEq|NotEq_Eq|Lt_LtE|LtE_Lt|Gt_GtE|GtE_Gt|Is_IsNot|IsNot_Is)",
    "ReplaceAndWithOr",
    "ReplaceOrWithAnd",
    "AddNot",
    "ReplaceUnaryOperator_Delete_Not",
    "ReplaceUnaryOperator_USub_UAdd",
    "ReplaceTrueWithFalse",
    "ReplaceFalseWithTrue",
    "NumberReplacer",
    "ReplaceBinaryOperator_(Add_Sub|Sub_Add|Mul_Div|Div_Mul|FloorDiv_Div|Mod_FloorDiv)",
    "ZeroIterationForLoop",
    "ReplaceBreakWithContinue",
    "ReplaceContinueWithBreak",
    "ExceptionReplacer",
)


# Mutants no test can tell apart from the original, by construction: skipped before the run and counted apart
# ("equivalent"), each class with why. (operator, the mutated line's text, why)
EQUIVALENT = (
    ("ReplaceTrueWithFalse", r"^@dataclass\(frozen=True", "frozen only refuses assignment, which no code does"),
    (
        "ReplaceFalseWithTrue",
        r"^@tracer\.capture_(method|lambda_handler)\(capture_response=False\)",
        "X-Ray metadata only; tracing is off outside Lambda",
    ),
    (
        "NumberReplacer",
        r"^leeway=\d+,",
        "a second more or less of clock-skew grace cannot be observed without a clock the test controls",
    ),
    (
        "NumberReplacer",
        r"ThreadPoolExecutor\(max_workers=\d+",
        "a pool's size changes how many requests run at once, never what is sent",
    ),
    (
        "ReplaceBinaryOperator_Mul_Div",
        r"^\*,$|\(self, \*,|, \*, ",
        "`*` marks keyword-only parameters: as `/` every call in the code is still valid and means the same",
    ),
    (
        "AddNot",
        r"^if TYPE_CHECKING:$",
        "type-only imports (boto3 stubs): the dev virtualenv has them, so importing them at run time changes nothing",
    ),
)


@dataclass
class Outcome:
    target: Target
    killed: int = 0
    equivalent: int = 0
    survived: list[str] = field(default_factory=list)
    timeouts: int = 0
    incompetent: int = 0
    seconds: float = 0.0
    error: str = ""
    sampled: int | None = None
    resumed: int = 0  # mutants an earlier run of the same source had killed, kept (MUTATE_RESUME)
    when: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))

    def save(self) -> None:
        """Kept per module, so a run of some modules (MODULES=...) updates their rows and keeps the others'."""
        fields = {k: v for k, v in vars(self).items() if k != "target"}
        (SCRATCH / f"{self.target.name}.json").write_text(json.dumps(fields, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, target: Target) -> Outcome | None:
        path = SCRATCH / f"{target.name}.json"
        return cls(target, **json.loads(path.read_text(encoding="utf-8"))) if path.exists() else None

    @property
    def total(self) -> int:
        return self.killed + len(self.survived) + self.timeouts

    @property
    def score(self) -> float:
        return (self.killed + self.timeouts) / self.total if self.total else 0.0


def tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def scratch_copy(index: int) -> Path:
    """The working tree as it is (tracked and new files, .gitignore honoured), in .mutation/work-<index>."""
    copy = SCRATCH / f"work-{index}"
    shutil.rmtree(copy, ignore_errors=True)
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file() and not name.startswith(("mutation/results", ".mutation")):
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    return copy


def config(target: Target, timeout: float) -> str:
    kept = "|".join(KEPT_OPERATORS)
    tests = " ".join(target.tests) + (f" -k '{target.keyword}'" if target.keyword else "")
    return f"""[cosmic-ray]
module-path = "{target.path}"
timeout = {timeout:.0f}
excluded-modules = []
test-command = "{sys.executable} -m pytest -x -q -p no:cacheprovider -p no:randomly {tests}"

[cosmic-ray.distributor]
name = "local"

[cosmic-ray.filters.operators-filter]
exclude-operators = ["^(?!core/({kept})$)"]
"""


def run_target(target: Target, copy: Path, limit: int | None) -> Outcome:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    outcome = Outcome(target)
    started = time.monotonic()
    baseline = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *target.tests]
        + (["-k", target.keyword] if target.keyword else []),
        cwd=copy,
        capture_output=True,
        text=True,
    )
    if baseline.returncode != 0:
        outcome.error = "the tests fail unmutated: " + baseline.stdout.strip().splitlines()[-1]
        return outcome
    timeout = max(30.0, 3 * (time.monotonic() - started))
    config_path = SCRATCH / f"{target.name}.toml"
    session = SCRATCH / f"{target.name}.sqlite"
    source_hash = SCRATCH / f"{target.name}.source"
    digest = hashlib.sha256((copy / target.path).read_bytes()).hexdigest()
    config_path.write_text(config(target, timeout), encoding="utf-8")
    sample = limit if limit is not None else target.sample
    if RESUME and session.exists() and source_hash.exists() and source_hash.read_text() == digest:
        # The module is as the session mutated it, and tests only ever get added: a mutant killed stays killed.
        # The survivors and the mutants not run yet are run (again).
        outcome.resumed = _forget_survivors(session)
        outcome.equivalent = _count_equivalents(session)
    else:
        session.unlink(missing_ok=True)
        for command in (
            [tool("cosmic-ray"), "init", str(config_path), str(session)],
            [tool("cr-filter-operators"), str(session), str(config_path)],
            [tool("cr-filter-pragma"), str(session)],
        ):
            subprocess.run(command, cwd=copy, check=True, capture_output=True)
        source_hash.write_text(digest, encoding="utf-8")
        outcome.equivalent = _skip_equivalents(session, copy)
        if sample is not None:
            _keep_a_sample(session, sample)
    if sample is not None:
        outcome.sampled = sample
    subprocess.run([tool("cosmic-ray"), "exec", str(config_path), str(session)], cwd=copy, capture_output=True)
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                continue
            if result.worker_outcome == WorkerOutcome.ABNORMAL:
                outcome.timeouts += 1  # the mutant hung or crashed the run: noticed
            elif result.worker_outcome == WorkerOutcome.EXCEPTION:
                outcome.incompetent += 1  # the mutant could not be applied or imported
            elif result.test_outcome == TestOutcome.SURVIVED:
                m = item.mutations[0]
                line = (copy / m.module_path).read_text(encoding="utf-8").splitlines()[m.start_pos[0] - 1].strip()
                outcome.survived.append(f"{target.path}:{m.start_pos[0]} {m.operator_name[5:]} `{line[:90]}`")
            elif result.test_outcome == TestOutcome.INCOMPETENT:
                outcome.incompetent += 1
            else:
                outcome.killed += 1
    outcome.seconds = time.monotonic() - started
    outcome.save()
    return outcome


def _skip_equivalents(session: Path, copy: Path) -> int:
    """Mark the mutants of an EQUIVALENT class as skipped; how many."""
    import re

    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    skipped = 0
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in list(db.pending_work_items):
            m = item.mutations[0]
            line = (copy / m.module_path).read_text(encoding="utf-8").splitlines()[m.start_pos[0] - 1].strip()
            why = next(
                (why for op, pattern, why in EQUIVALENT if m.operator_name.endswith(op) and re.search(pattern, line)),
                None,
            )
            if why is not None:
                db.set_result(
                    item.job_id, WorkResult(output=f"equivalent: {why}", worker_outcome=WorkerOutcome.SKIPPED)
                )
                skipped += 1
    return skipped


def _forget_survivors(session: Path) -> int:
    """Make the survivors of an earlier run pending again; how many mutants were already killed."""
    import sqlite3

    with sqlite3.connect(session) as db:
        db.execute("delete from work_results where test_outcome = 'SURVIVED'")
        return int(db.execute("select count(*) from work_results where worker_outcome != 'SKIPPED'").fetchone()[0])


def _count_equivalents(session: Path) -> int:
    import sqlite3

    with sqlite3.connect(session) as db:
        return int(db.execute("select count(*) from work_results where output like 'equivalent:%'").fetchone()[0])


def _keep_a_sample(session: Path, limit: int) -> None:
    """Mark all but `limit` evenly spread mutants as skipped (MUTATE_LIMIT: a quick look, not a score)."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(str(session), WorkDB.Mode.open) as db:
        pending = list(db.pending_work_items)
        step = max(1, len(pending) / max(1, limit))
        kept = {pending[int(i * step)].job_id for i in range(min(limit, len(pending)))}
        for item in pending:
            if item.job_id not in kept:
                db.set_result(item.job_id, WorkResult(output="sampled out", worker_outcome=WorkerOutcome.SKIPPED))


def report(outcomes: list[Outcome]) -> str:
    lines = [
        f"# Mutation testing results (cosmic-ray, {os.cpu_count()} cores)",
        "",
        "Killed: a test failed (or the mutant hung the run). Score = killed / (killed + survived). Target >= 90%.",
        "Equivalent: mutants no test can tell apart by construction (`EQUIVALENT` in mutation/__main__.py says why),",
        "skipped before the run and not in the score.",
        "Each module's row is from its last run (`make mutate MODULES=<name>` reruns one).",
        "",
        "| module | guarantee | mutants | killed | survived | score | equivalent | minutes | run |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for o in outcomes:
        score = f"{o.score:.0%}" + ("" if o.score >= 0.9 else " (under 90%)") if o.total else o.error or "-"
        sampled = f" ({o.error})" if o.error and o.total else f" (sample of {o.sampled})" if o.sampled else ""
        sampled += f" ({o.resumed} of them killed before a resume)" if o.resumed else ""
        lines.append(
            f"| {o.target.name} | {o.target.guarantee} | {o.total}{sampled} | {o.killed + o.timeouts} "
            f"| {len(o.survived)} | {score} | {o.equivalent} | {o.seconds / 60:.1f} | {o.when} |"
        )
    lines += ["", "## Survivors", ""]
    for o in outcomes:
        lines += [f"- {s}" for s in o.survived]
    return "\n".join(lines) + "\n"


def merged(existing: str, outcomes: list[Outcome]) -> str:
    """results.md with the measured modules' rows and survivors replaced and everything else kept as it was: the
    other modules' rows, the notes written beside the table. A module whose run produced no score (its tests could
    not start, e.g. without ../shared) keeps its last row."""
    fresh = report(outcomes)
    if not existing.strip():
        return fresh
    scored = {o.target.name: o for o in outcomes if o.total}
    new_rows = {line.split("|")[1].strip(): line for line in fresh.splitlines() if _is_row(line)}
    lines = existing.splitlines()
    seen: set[str] = set()
    out: list[str] = []
    for line in lines:
        if _is_row(line):
            name = line.split("|")[1].strip()
            seen.add(name)
            out.append(new_rows[name] if name in scored else line)
        else:
            out.append(line)
    last_row = max((i for i, line in enumerate(out) if _is_row(line)), default=len(out) - 1)
    out[last_row + 1 : last_row + 1] = [new_rows[n] for n in scored if n not in seen]
    if "## Survivors" not in out:
        out += ["", "## Survivors", ""]
    start = out.index("## Survivors") + 1
    end = next((i for i in range(start, len(out)) if out[i].startswith("## ")), len(out))
    measured = tuple(f"- {o.target.path}:" for o in scored.values())
    kept = [line for line in out[start:end] if line.strip() and not line.startswith(measured)]
    survivors = kept + [f"- {s}" for o in scored.values() for s in o.survived]
    out[start:end] = ["", *survivors, ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _is_row(line: str) -> bool:
    return line.startswith("| ") and not line.startswith("| module ") and not line.startswith("|---")


def status() -> int:
    """`make mutate-status`: how far each session in SCRATCH got, and what survived so far (a run in progress too)."""
    import sqlite3

    copy = SCRATCH / "work-0"
    for target in TARGETS:
        session = SCRATCH / f"{target.name}.sqlite"
        if not session.exists():
            continue
        with sqlite3.connect(f"file:{session}?mode=ro", uri=True) as db:
            rows = db.execute(
                "select s.start_pos_row, s.operator_name, w.worker_outcome, w.test_outcome from mutation_specs s "
                "left join work_results w on w.job_id = s.job_id where ifnull(w.worker_outcome, '') != 'SKIPPED' "
                "order by s.start_pos_row"
            ).fetchall()
        done = [r for r in rows if r[2] is not None]
        survived = [r for r in done if r[3] == "SURVIVED"]
        killed = len(done) - len(survived)
        print(f"{target.name}: {len(done)} of {len(rows)} run, {killed} killed, {len(survived)} survived")
        source = copy / target.path if (copy / target.path).exists() else ROOT / target.path
        lines = source.read_text(encoding="utf-8").splitlines()
        for row, operator, _, _ in survived:
            print(f"  {row} {operator[5:]} `{lines[row - 1].strip()[:100]}`")
    return 0


def partial(target: Target) -> Outcome | None:
    """The outcome so far of a session still running or interrupted (None when there is none, or it finished)."""
    import sqlite3

    session = SCRATCH / f"{target.name}.sqlite"
    if not session.exists():
        return None
    with sqlite3.connect(f"file:{session}?mode=ro", uri=True) as db:
        rows = db.execute(
            "select s.start_pos_row, s.operator_name, w.worker_outcome, w.test_outcome, w.output "
            "from mutation_specs s left join work_results w on w.job_id = s.job_id"
        ).fetchall()
    runnable = [r for r in rows if r[2] != "SKIPPED"]
    done = [r for r in runnable if r[2] is not None]
    if len(done) == len(runnable):
        return None
    copy = next((c for c in sorted(SCRATCH.glob("work-*")) if (c / target.path).exists()), ROOT)
    lines = (copy / target.path).read_text(encoding="utf-8").splitlines()
    outcome = Outcome(target, error=f"interrupted: {len(done)} of {len(runnable)} run")
    outcome.equivalent = sum(1 for r in rows if (r[4] or "").startswith("equivalent:"))
    outcome.when = datetime.fromtimestamp(session.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M UTC")
    for row, operator, worker, test, _ in sorted(done):
        if worker == "ABNORMAL":
            outcome.timeouts += 1
        elif test == "SURVIVED":
            outcome.survived.append(f"{target.path}:{row} {operator[5:]} `{lines[row - 1].strip()[:90]}`")
        elif test == "KILLED":
            outcome.killed += 1
    return outcome


def main() -> int:
    if sys.argv[1:] == ["status"]:
        return status()
    if sys.argv[1:] == ["report"]:  # results.md again, with the sessions still running or interrupted as they are
        known = [partial(t) or Outcome.load(t) for t in TARGETS]
        previous = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
        RESULTS.write_text(merged(previous, [o for o in known if o is not None]), encoding="utf-8")
        print(f"written to {RESULTS.relative_to(ROOT)}")
        return 0
    wanted = {n.strip() for n in os.environ.get("MODULES", "").split(",") if n.strip()}
    unknown = wanted - {t.name for t in TARGETS}
    if unknown:
        print(f"Unknown MODULES {sorted(unknown)}; choose from {[t.name for t in TARGETS]}", file=sys.stderr)
        return 2
    limit = int(os.environ["MUTATE_LIMIT"]) if os.environ.get("MUTATE_LIMIT") else None
    targets = [t for t in TARGETS if not wanted or t.name in wanted]
    SCRATCH.mkdir(exist_ok=True)
    workers = max(1, min(2, len(targets)))
    copies = [scratch_copy(i) for i in range(workers)]
    queue = list(targets)
    outcomes: dict[str, Outcome] = {}

    def work(copy: Path) -> None:
        while queue:
            target = queue.pop(0)
            print(f"mutating {target.name} ...", flush=True)
            outcome = run_target(target, copy, limit)
            outcomes[target.name] = outcome
            print(f"  {target.name}: {outcome.killed + outcome.timeouts}/{outcome.total} killed", flush=True)

    with ThreadPoolExecutor(workers) as pool:
        for done in [pool.submit(work, copy) for copy in copies]:
            done.result()
    known = [outcomes.get(t.name) or Outcome.load(t) for t in TARGETS]
    for failed in (o for o in outcomes.values() if not o.total):
        print(f"  {failed.target.name}: no score ({failed.error or 'nothing ran'}); its last row is kept", flush=True)
    previous = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    RESULTS.write_text(merged(previous, [o for o in known if o is not None]), encoding="utf-8")
    print(report([o for o in outcomes.values() if o.total]))
    print(f"written to {RESULTS.relative_to(ROOT)} (only the modules measured now changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
