"""``onboard()``: introspect, generate verified pairs, draft an evalset; re-runs regenerate only what changed.

Steps, each reported through ``progress`` and each safe to interrupt:

1. introspect the source into the project (``snapshot.json``, ``data.duckdb`` for non-DuckDB
   sources; :func:`sqltune.introspect.introspect` + :func:`sqltune.project.save_snapshot`, which
   also gives the drift from the previous snapshot);
2. hash every table (:mod:`sqltune.onboard.basis`) and compare with the basis the existing pairs
   were made for (``onboard.json``): nothing changed → nothing is regenerated; some tables
   changed → only their pairs are (:mod:`sqltune.onboard.regen`); settings changed or no pairs
   yet → everything is generated (resumable chunks under ``pairs/.generate/``);
3. draft or refresh the evalset skeleton (:mod:`sqltune.onboard.draft`);
4. split the pairs into training pairs and pairs held out because their SQL is an evalset gold
   (:mod:`sqltune.onboard.holdout`), write every file, then the manifest (the commit point).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import time
import typing as t
from collections import Counter
from pathlib import Path

from sqltune import home, project, sandbox
from sqltune.difficulty import TIERS
from sqltune.drift import SchemaDiff
from sqltune.errors import ConfigError
from sqltune.generate import GenerateConfig, Pair, ProgressEvent, generate
from sqltune.generate.run import GENERATOR_VERSION
from sqltune.onboard import basis, draft, files, holdout, regen
from sqltune.schema import Schema

if t.TYPE_CHECKING:
    from sqltune.evalset import Evalset

__all__ = ["OnboardResult", "onboard"]

#: Runs kept in the manifest's ``history``.
_HISTORY_KEEP = 20


@dataclasses.dataclass(frozen=True)
class OnboardResult:
    """What :func:`onboard` found and wrote.

    Attributes:
        name, folder: The project and its folder.
        schema: The snapshot; ``drift`` its difference from the previous one (``None`` the first time).
        changed_tables: Tables whose pairs were stale, with the reasons (``structure``, ``values``,
            ``joins``, ``docs``, ``data``, ``added``, ``removed``), relative to the pairs' basis.
        regenerated: ``"all"``, ``"changed"`` or ``"none"``; ``reason`` says why.
        pairs, train_pairs, heldout_pairs: All pairs; those for training; those held out (their SQL
            is an evalset gold).
        kept_pairs, new_pairs: Pairs kept from the last run and generated in this one.
        sql_by_tier: Distinct SQL per tier; ``coverage`` the coverage summary.
        draft: The draft evalset as it now is; ``draft_added`` the case ids proposed in this run,
            ``draft_replaced`` unreviewed ones withdrawn, ``stale_reviewed`` reviewed ones whose
            tables changed (kept untouched: re-check them).
        fingerprint, domain_hash, data_hash: Of the snapshot and data the pairs were made for.
        warnings: Things to look at (an unreadable evalset, a generation shortfall).
        files: Paths written, by name.
    """

    name: str
    folder: Path
    schema: Schema
    drift: SchemaDiff | None
    changed_tables: t.Mapping[str, tuple[str, ...]]
    regenerated: str
    reason: str
    pairs: int
    train_pairs: int
    heldout_pairs: int
    kept_pairs: int
    new_pairs: int
    sql_by_tier: t.Mapping[str, int]
    coverage: t.Mapping[str, t.Any]
    draft: Evalset
    draft_added: tuple[str, ...]
    draft_replaced: tuple[str, ...]
    stale_reviewed: tuple[str, ...]
    fingerprint: str
    domain_hash: str
    data_hash: str
    warnings: tuple[str, ...]
    files: t.Mapping[str, str]
    seconds: float

    @property
    def unreviewed(self) -> tuple[str, ...]:
        """Ids of draft cases still waiting for review."""
        return tuple(c.id for c in self.draft.cases if not c.reviewed)

    def summary(self) -> str:
        """What was found and written, as the CLI prints it."""
        s = self.schema
        lines = []
        for tb in s.tables:
            cats = [f"{c.name}({len(c.profile.values)})" for c in tb.columns
                    if c.profile is not None and c.profile.values is not None]
            lines.append(f"  {str(tb.key):<32} {len(tb.columns):>3} columns {tb.row_count or 0:>10,} rows"
                         + (f"  categorical: {', '.join(cats)}" if cats else ""))
        declared = [j for j in s.joins if j.source == "declared"]
        inferred = [j for j in s.joins if j.source == "inferred"]
        lines += [f"  declared join {j}" for j in declared] + [f"  inferred join {j} ({j.evidence})" for j in inferred]
        if self.drift is not None:
            lines.append("drift since the last snapshot: " + ("none" if self.drift.empty else ""))
            if not self.drift.empty:
                lines += ["  " + x for x in self.drift.summary().splitlines()]
        if self.changed_tables:
            lines.append("tables whose pairs were regenerated: " + "; ".join(
                f"{k} ({', '.join(v)})" for k, v in self.changed_tables.items()))
        tiers = ", ".join(f"{self.sql_by_tier.get(x, 0)} {x}" for x in TIERS)
        lines.append(f"pairs: {self.pairs} ({sum(self.sql_by_tier.values())} distinct SQL: {tiers}); "
                     f"{self.train_pairs} for training, {self.heldout_pairs} held out as evalset golds")
        lines.append(f"regenerated: {self.regenerated} ({self.reason}); kept {self.kept_pairs}, new {self.new_pairs}")
        cov = self.coverage
        parts = []
        for kind in ("table", "column", "join", "value"):
            c = cov.get(kind)
            if c:
                extra = f", {c['unreachable']} unreachable" if c.get("unreachable") else ""
                parts.append(f"{kind}s {c['covered']}/{c['total']}{extra}")
        lines.append("coverage (items used by enough distinct SQL): " + "; ".join(parts))
        counts = {tier: sum(1 for c in self.draft.cases if c.difficulty == tier) for tier in TIERS}
        reviewed = sum(1 for c in self.draft.cases if c.reviewed)
        lines.append(f"draft evalset {self.files.get('draft', '')}: {len(self.draft.cases)} cases ("
                     + ", ".join(f"{v} {k}" for k, v in counts.items())
                     + f"); {reviewed} reviewed, {len(self.unreviewed)} to review"
                     + (f"; {len(self.draft_added)} proposed now" if self.draft_added else "")
                     + (f"; {len(self.draft_replaced)} withdrawn" if self.draft_replaced else ""))
        if self.stale_reviewed:
            lines.append("reviewed cases over changed tables (kept; re-check them): " + ", ".join(self.stale_reviewed))
        lines += [f"warning: {w}" for w in self.warnings]
        lines.append(f"fingerprint {self.fingerprint}  domains {self.domain_hash}  data {self.data_hash}  "
                     f"({self.seconds:.1f}s)")
        return "\n".join(lines)

    def next_steps(self) -> list[str]:
        """The commands to run next."""
        out = []
        if self.unreviewed:
            out.append(f"sqltune evalset review {self.name}    # accept, edit or drop the "
                       f"{len(self.unreviewed)} drafted cases")
        out += [f"sqltune tune {self.name}", f'sqltune ask {self.name} "How many … ?"',
                f"sqltune evalset validate draft --project {self.name}"]
        return out


def onboard(
    source: t.Any, name: str, *, n: int = 5000, seed: int = 0, draft_per_tier: int = 10,
    config: GenerateConfig | None = None, masks: t.Sequence[str] = (), dictionary: t.Any = None,
    include_schemas: t.Collection[str] | None = None, max_copy_rows: int = 1_000_000,
    progress: t.Callable[[str], None] | None = None,
) -> OnboardResult:  # fmt: skip
    """Onboard the database at ``source`` as project ``name``; re-run it after the database changes.

    Args:
        source: A file path (``.duckdb``, ``.sqlite``), a SQLAlchemy URL, or ``sample:NAME``.
        name: The project (``SQLTUNE_HOME/projects/<name>/``).
        n: Question/SQL pairs to generate; ``seed`` makes the run reproducible.
        draft_per_tier: Evalset cases to propose per difficulty tier (reviewed ones count).
        config: :class:`~sqltune.generate.GenerateConfig`.
        masks, dictionary, include_schemas, max_copy_rows: As :func:`sqltune.introspect.introspect`.
        progress: Called with a short message at every step (and every generated chunk).

    Raises:
        ConfigError: A bad name or setting; ConnectionFailedError / IntrospectionError: a bad source.

    Example (a throwaway home; the second run finds nothing changed)::

        >>> import os, tempfile, duckdb, pathlib
        >>> old_home = os.environ.get("SQLTUNE_HOME")
        >>> os.environ["SQLTUNE_HOME"] = tempfile.mkdtemp()
        >>> db = pathlib.Path(tempfile.mkdtemp()) / "shop.duckdb"
        >>> con = duckdb.connect(str(db))
        >>> _ = con.execute('CREATE TABLE "Item"(id INT PRIMARY KEY, "Kind" VARCHAR, price DOUBLE)')
        >>> _ = con.execute("INSERT INTO \\"Item\\" SELECT i, ['A','B','C'][1 + i % 3], i * 1.5 FROM range(1, 60) t(i)")
        >>> con.close()
        >>> res = onboard(db, "shop", n=40, draft_per_tier=1)
        >>> res.regenerated, res.pairs, len(res.draft.cases) > 0, res.unreviewed == tuple(c.id for c in res.draft)
        ('all', 40, True, True)
        >>> again = onboard(db, "shop", n=40, draft_per_tier=1)
        >>> again.regenerated, again.new_pairs, again.draft_added
        ('none', 0, ())
        >>> _ = os.environ.pop("SQLTUNE_HOME") if old_home is None else os.environ.update(SQLTUNE_HOME=old_home)
    """
    started = time.perf_counter()
    home.check_name(name)
    cfg = config or GenerateConfig()
    if n < 1:
        raise ConfigError(f"n must be at least 1, got {n}.")
    if draft_per_tier < 0:
        raise ConfigError(f"draft_per_tier must be 0 or more, got {draft_per_tier}.")
    say = progress or (lambda _msg: None)
    folder = home.project_dir(name)
    # 1. introspect (nothing is written before the source has been read)
    from sqltune.introspect import introspect

    say("[1/4] introspect")
    sandbox.close_all()  # the copy may replace data.duckdb, which a cached sandbox could hold open
    schema = introspect(source, name=name, masks=masks, dictionary=dictionary, include_schemas=include_schemas,
                        copy_to=folder / "data.duckdb", max_copy_rows=max_copy_rows,
                        progress=lambda m: say(f"[1/4] introspect: {m}"))
    folder, drift = project.save_snapshot(schema, name)
    say("[2/4] hash tables")
    sigs = basis.signatures(schema, progress=lambda m: say(f"[2/4] {m}"))
    data_hash = basis.combined(sigs)
    manifest = files.read_manifest(folder)
    pairs_dir = folder / "pairs"
    gen_settings = {"n": n, "seed": seed, "generate": cfg.to_dict()}
    here = {"schema_fingerprint": schema.fingerprint(), "domain_hash": schema.domain_hash(), "data_hash": data_hash}
    provenance = {"tool": "sqltune onboard", "config": gen_settings, **here}

    # 2. decide what to regenerate, and do it
    old = manifest.get("pairs", {}).get("basis")
    header, train = files.read_pairs(pairs_dir / files.PAIRS)
    _, held = files.read_pairs(pairs_dir / files.HELDOUT)
    old_pairs = files.unique(train + held)
    old_sigs = {k: basis.TableSignature.from_dict(v) for k, v in (old or {}).get("tables", {}).items()}
    changed = basis.changed_tables(old_sigs, sigs) if old else {}
    current = {str(tb.key) for tb in schema.tables}
    if not old or header is None or not header.get("onboard"):
        mode, reason = "all", "first onboarding" if not old else "pairs.jsonl was not written by onboarding"
    elif old.get("config") != gen_settings:
        mode, reason = "all", "generation settings changed"
    elif header.get("generator") != GENERATOR_VERSION:
        mode, reason = "all", f"the generator changed (version {header.get('generator')} -> {GENERATOR_VERSION})"
    elif not changed:
        mode, reason = "none", "schema and data unchanged"
    elif current and current <= set(changed):
        mode, reason = "all", "every table changed"
    else:
        mode, reason = "changed", f"{len(changed)} of {len(current | set(old_sigs))} tables changed"

    def tick(ev: ProgressEvent) -> None:
        say(f"[3/4] generate: {ev.sql_done}/{ev.sql_target} SQL" + (" (resumed)" if ev.resumed else ""))

    base_header: dict[str, t.Any] | None = header
    kept = new = 0
    warnings: list[str] = []
    if mode == "all":
        say("[3/4] generate")
        res = _generate_all(schema, n=n, seed=seed, cfg=cfg, out=pairs_dir / files.SCRATCH[0], data_hash=data_hash,
                            progress=tick)
        pairs, new, base_header = list(res[0]), len(res[0]), res[1]
    elif mode == "changed":
        say(f"[3/4] regenerate pairs of {len(changed)} changed tables")
        regen_res = regen.regenerate_changed(schema, old_pairs, changed, old_tables=set(old_sigs), n=n, seed=seed,
                                             config=cfg, out=pairs_dir / files.SCRATCH[1], progress=tick)
        pairs, kept, new = list(regen_res.pairs), regen_res.kept, regen_res.new
        base_header = {k: v for k, v in (header or {}).items() if k not in ("run_key", "rejected")}
        if regen_res.shortfall:
            warnings.append(f"changed tables gave {regen_res.new} new pairs of the {regen_res.target} wanted")
    else:
        say("[3/4] pairs up to date")
        pairs, kept = old_pairs, len(old_pairs)
    if len(pairs) < n:
        warnings.append(f"{len(pairs)} pairs for n={n}: the schema gave fewer distinct SQL than asked")

    # 3. draft the evalset
    say("[4/4] draft evalset and hold out its golds")
    upd = draft.update_draft(folder, name, pairs, per_tier=draft_per_tier, seed=seed, changed_tables=set(changed),
                             provenance=provenance, db=schema.execution_db, previous=old_pairs)
    golds, why = holdout.evalset_golds(folder)
    warnings += why
    train_pairs, held_pairs = holdout.split(pairs, golds)

    # 4. write everything, the manifest last
    from sqltune.generate.catalog import Catalog
    from sqltune.generate.facts import facts as schema_facts

    fact_items = schema_facts(Catalog.build(schema, min_join_confidence=cfg.min_join_confidence,
                                            masked_usage=cfg.masked_usage))
    coverage = regen.coverage_report(schema, pairs, cfg)
    run_info = {"regenerated": mode, "reason": reason, "kept": kept, "new": new,
                "changed_tables": {k: list(v) for k, v in changed.items()}}
    heldout_info = {"pairs": len(held_pairs), "sql": len({p.sql for p in held_pairs}), "file": files.HELDOUT,
                    "why": "SQL is a gold of an evalset in evalsets/ (see sqltune.onboard.holdout)"}
    head = regen.pairs_header(schema, pairs, config=cfg, seed=seed, n=n, coverage=coverage, facts=len(fact_items),
                              base=base_header, extra={"data_hash": data_hash, "heldout": heldout_info,
                                                       # what made these pairs: unchanged by a run that kept them all
                                                       "onboard": run_info if mode != "none" or header is None
                                                       else header.get("onboard", run_info)})
    files.write_jsonl(pairs_dir / files.FACTS, (f.to_dict() for f in fact_items))
    files.write_json(pairs_dir / files.COVERAGE, {**coverage, "provenance": {**provenance, "seed": seed}})
    files.write_pairs(pairs_dir / files.HELDOUT, head, held_pairs)
    files.write_pairs(pairs_dir / files.PAIRS, head, train_pairs)
    tiers = Counter(g[0].tier for g in files.group_by_sql(pairs).values())
    history = list(manifest.get("history", []))[-(_HISTORY_KEEP - 1):]
    history.append({"at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **run_info,
                    "pairs": len(pairs), **here})
    files.write_manifest(folder, {
        "name": name, "source": schema.source_url,
        "config": {**gen_settings, "draft_per_tier": draft_per_tier, "masks": list(masks),
                   "include_schemas": sorted(include_schemas) if include_schemas else None,
                   "max_copy_rows": max_copy_rows},
        **here,
        "pairs": {"basis": {"config": gen_settings, **here, "tables": {k: v.to_dict() for k, v in sigs.items()}},
                  "total": len(pairs), "train": len(train_pairs), "heldout": len(held_pairs),
                  "sql_by_tier": {x: tiers[x] for x in TIERS}},
        "draft": {"path": str(upd.header.parent.relative_to(folder)), "added": list(upd.added),
                  "replaced": list(upd.replaced), "stale_reviewed": list(upd.stale_reviewed)},
        "history": history,
    })  # fmt: skip
    for scratch in files.SCRATCH:
        shutil.rmtree(pairs_dir / scratch, ignore_errors=True)
    from sqltune.evalset import load_evalset

    ev = load_evalset(upd.header.parent)
    paths = {"snapshot": str(folder / "snapshot.json"), "manifest": str(folder / files.MANIFEST),
             "pairs": str(pairs_dir / files.PAIRS), "heldout": str(pairs_dir / files.HELDOUT),
             "facts": str(pairs_dir / files.FACTS), "coverage": str(pairs_dir / files.COVERAGE),
             "draft": str(upd.header.parent)}
    return OnboardResult(
        name=name, folder=folder, schema=schema, drift=drift, changed_tables=dict(changed), regenerated=mode,
        reason=reason, pairs=len(pairs), train_pairs=len(train_pairs), heldout_pairs=len(held_pairs),
        kept_pairs=kept, new_pairs=new, sql_by_tier={x: tiers[x] for x in TIERS}, coverage=coverage["summary"],
        draft=ev, draft_added=upd.added, draft_replaced=upd.replaced, stale_reviewed=upd.stale_reviewed,
        fingerprint=here["schema_fingerprint"], domain_hash=here["domain_hash"], data_hash=data_hash,
        warnings=tuple(warnings), files=paths, seconds=time.perf_counter() - started,
    )  # fmt: skip


def _generate_all(schema: Schema, *, n: int, seed: int, cfg: GenerateConfig, out: Path, data_hash: str,
                  progress: t.Callable[[ProgressEvent], None]) -> tuple[tuple[Pair, ...], dict[str, t.Any]]:
    """Every pair, from scratch; a finished run left in ``out`` by an interrupted onboarding is reused."""
    marker = out / "basis.json"
    header, pairs = files.read_pairs(out / files.PAIRS)
    if header is not None and marker.is_file():
        import json

        expect = {"generator": GENERATOR_VERSION, "schema_fingerprint": schema.fingerprint(),
                  "domain_hash": schema.domain_hash(), "seed": seed, "n": n, "config": cfg.to_dict()}
        if all(header.get(k) == v for k, v in expect.items()) and json.loads(marker.read_text()) == {
                "data_hash": data_hash}:
            return tuple(pairs), header
    marker.unlink(missing_ok=True)
    res = generate(schema, n=n, seed=seed, out=out, config=cfg, progress=progress)
    files.write_json(marker, {"data_hash": data_hash})
    return res.pairs, dict(res.header)
