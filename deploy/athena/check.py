#!/usr/bin/env python3
"""Local proof of the Athena DDL and the example hunts, without AWS.

Run with the project's virtualenv (scripts/test.sh installs sqlglot and DuckDB into it):

    .venv/bin/python deploy/athena/check.py --parquet <dest>/parquet [--findings <dest>/findings]

It checks, and exits non-zero with a message naming every failure:

1. every statement of tables.sql, findings.sql and every hunt (hunts/NN-name.sql) parses as Athena SQL
   (sqlglot, dialect "athena"); each hunt is one SELECT that opens with a comment, filters on
   the `dt` partition, double-quotes "timestamp", and names only columns the DDL has;
2. each hunt transpiles to DuckDB;
3. DuckDB, over one view per table on the Parquet files (`dt`/`hour` from the path, as
   strings like Athena's partition columns), returns exactly the rows of
   hunts/expected/NN-name.json;
4. every Parquet file's columns are exactly the DDL's (less the partition columns), each with
   the physical and logical type the DDL type needs;
5. with --query FILE (instead of the checks above): the one SELECT in FILE (the SQL a
   `falconry hunt --engine athena` sends) parses as Athena SQL, names only columns of the
   DDL (and Athena's hidden "$path"), transpiles to DuckDB, and runs over the views, which
   carry each row's file as "$path"; its rows are printed as one JSON document;
6. with --findings: every member of every finding the forwarder wrote is a column of
   findings.sql with a JSON type that fits it, and the query docs/detections.md shows runs in
   DuckDB over them (as Athena's JSON SerDe reads them: NULL for members no line has).

It must not change anything: it only reads the DDL, the hunts and the Parquet files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import json
import re
import sys
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify

HERE = Path(__file__).resolve().parent
# Every table is partitioned like the forwarder writes: <table>/dt=YYYY-MM-DD/hour=HH/.
PARTITION_COLUMNS = ["dt", "hour"]
# DDL type -> DuckDB type, for the empty view of a table that has no Parquet files.
DUCKDB_TYPES = {
    "string": "VARCHAR",
    "bigint": "BIGINT",
    "decimal(20,0)": "DECIMAL(20,0)",
    "timestamp": "TIMESTAMP",
    "map<string,string>": "MAP(VARCHAR, VARCHAR)",
}


class Failures:
    """Collects every problem, so one run reports all of them."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, what: str) -> None:
        self.items.append(f"{where}: {what}")


def parse_message(error: SqlglotError) -> str:
    """sqlglot's parse error without its terminal highlighting."""
    details = getattr(error, "errors", None)
    if details:
        first = details[0]
        return f"{first.get('description')} at line {first.get('line')}, column {first.get('col')}"
    return re.sub(r"\x1b\[[0-9;]*m", "", str(error))


def ddl_type(kind: exp.DataType) -> str:
    """`decimal(20,0)`, `map<string,string>`, … as tables.sql spells them (Hive syntax)."""
    return kind.sql("hive").lower().replace(" ", "")


def read_ddl(path: Path, failures: Failures) -> dict[str, dict]:
    """Table name -> {"columns": {name: ddl type}, "partitions": [names]} from tables.sql."""
    tables: dict[str, dict] = {}
    try:
        statements = sqlglot.parse(path.read_text(encoding="utf-8"), read="athena")
    except SqlglotError as e:
        failures.add(str(path), f"does not parse as Athena SQL: {parse_message(e)}")
        return tables
    for statement in statements:
        if not isinstance(statement, exp.Create) or statement.args.get("kind") != "TABLE":
            continue
        schema = statement.this
        table = schema.this
        columns = {
            c.name: ddl_type(c.args["kind"])
            for c in schema.expressions
            if isinstance(c, exp.ColumnDef)
        }
        partitioned = statement.find(exp.PartitionedByProperty)
        partitions = (
            [c.name for c in partitioned.this.expressions] if partitioned is not None else []
        )
        if table.db != "falconry":
            failures.add(str(path), f"table {table.sql()} is not in the falconry database")
        if partitions != PARTITION_COLUMNS:
            failures.add(str(path), f"{table.name} is partitioned by {partitions}, not dt, hour")
        for name, kind in columns.items():
            if kind not in DUCKDB_TYPES:
                failures.add(str(path), f"{table.name}.{name}: type {kind} has no check")
        tables[table.name] = {"columns": columns, "partitions": partitions}
    if not tables:
        failures.add(str(path), "no CREATE TABLE statements")
    return tables


def sqlglot_schema(tables: dict[str, dict]) -> dict:
    """The DDL as sqlglot's schema mapping, for column validation."""
    return {
        "falconry": {
            name: {
                **{c: DUCKDB_TYPES[t] for c, t in t_def["columns"].items() if t in DUCKDB_TYPES},
                **{p: "VARCHAR" for p in t_def["partitions"]},
            }
            for name, t_def in tables.items()
        }
    }


def lint_hunt(
    path: Path, text: str, tree: exp.Expression, schema: dict, failures: Failures
) -> None:
    """What every hunt must do besides parsing: comment first, `dt` filter, quoted
    "timestamp", and only columns the DDL has."""
    if not text.lstrip().startswith("--"):
        failures.add(
            path.name, "must open with a comment saying what it finds and which literals to change"
        )
    if not isinstance(tree, exp.Query):
        failures.add(path.name, f"must be a query, found {type(tree).__name__}")
    for table in tree.find_all(exp.Table):
        if table.db != "falconry":
            continue
        select = table.find_ancestor(exp.Select)
        where = select.args.get("where") if select is not None else None
        alias = table.alias_or_name
        prunes = where is not None and any(
            c.name == "dt" and c.table in ("", alias) for c in where.find_all(exp.Column)
        )
        if not prunes:
            failures.add(
                path.name,
                f"the scan of falconry.{table.name} ({alias}) has no `dt` filter in its WHERE",
            )
    for column in tree.find_all(exp.Column):
        if column.name.lower() == "timestamp" and not column.this.quoted:
            failures.add(path.name, 'the column timestamp must be written "timestamp"')
    try:
        qualify(
            tree.copy(),
            schema=schema,
            dialect="athena",
            validate_qualify_columns=True,
            identify=False,
        )
    except SqlglotError as e:
        failures.add(path.name, f"names a column or table the DDL does not have: {e}")


def parquet_glob(parquet: Path, table: str) -> str:
    return str(parquet / table / "*" / "*" / "*.parquet")


def create_views(
    con,
    parquet: Path,
    tables: dict[str, dict],
    allow_missing: set[str],
    failures: Failures,
    with_path: bool = False,
) -> dict[str, list[str]]:
    """One view per table in schema `falconry`; returns each table's Parquet files."""
    con.execute("CREATE SCHEMA falconry")
    files: dict[str, list[str]] = {}
    for name, t_def in tables.items():
        found = sorted(str(p) for p in (parquet / name).glob("*/*/*.parquet"))
        files[name] = found
        columns = t_def["columns"]
        if found:
            # Athena's `timestamp` has no zone: read UTC instants as plain timestamps (the
            # session zone is UTC), and keep the partition values as strings, as Athena does.
            casts = ", ".join(
                f'CAST("{c}" AS TIMESTAMP) AS "{c}"' for c, t in columns.items() if t == "timestamp"
            )
            replace = f" REPLACE ({casts})" if casts else ""
            if with_path:
                # Athena's hidden "$path": the file each row came from.
                replace = f" EXCLUDE (filename){replace}, filename AS \"$path\""
            hive_types = "{" + ", ".join(f"'{p}': 'VARCHAR'" for p in t_def["partitions"]) + "}"
            con.execute(
                f'CREATE VIEW falconry."{name}" AS SELECT *{replace} FROM read_parquet('
                f"'{parquet_glob(parquet, name)}', hive_partitioning = true, "
                f"union_by_name = true, hive_types = {hive_types}"
                + (", filename = true)" if with_path else ")")
            )
        else:
            if name not in allow_missing:
                failures.add(name, f"no Parquet files under {parquet / name}")
            select = ", ".join(
                [
                    f'CAST(NULL AS {DUCKDB_TYPES.get(t, "VARCHAR")}) AS "{c}"'
                    for c, t in columns.items()
                ]
                + [f'CAST(NULL AS VARCHAR) AS "{p}"' for p in t_def["partitions"]]
                + (['CAST(NULL AS VARCHAR) AS "$path"'] if with_path else [])
            )
            con.execute(f'CREATE VIEW falconry."{name}" AS SELECT {select} WHERE false')
    return files


def normalise(value):
    """A DuckDB value as JSON text would carry it: times as `YYYY-MM-DD HH:MM:SS.mmm` (UTC),
    exact decimals as strings, maps as objects."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value) if value == value.to_integral_value() else str(value.normalize())
    if isinstance(value, dict):
        return {str(k): normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalise(v) for v in value]
    return value


def run_hunt(con, path: Path, duck_sql: str, failures: Failures) -> int | None:
    """Runs one transpiled hunt and compares it with its expected rows; returns the row count."""
    expected_path = path.parent / "expected" / f"{path.stem}.json"
    try:
        cursor = con.execute(duck_sql)
        columns = [d[0] for d in cursor.description]
        rows = [[normalise(v) for v in row] for row in cursor.fetchall()]
    except duckdb.Error as e:
        failures.add(path.name, f"DuckDB could not run it: {e}\n{duck_sql}")
        return None
    if not expected_path.is_file():
        failures.add(path.name, f"no expected rows at {expected_path}")
        return len(rows)
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    if expected.get("columns") != columns:
        failures.add(path.name, f"columns {columns} != expected {expected.get('columns')}")
    want = expected.get("rows")
    if want != rows:
        lines = [f"{len(rows)} rows, expected {len(want or [])}"]
        for i in range(max(len(rows), len(want or []))):
            got = rows[i] if i < len(rows) else "(none)"
            exp_row = want[i] if want is not None and i < len(want) else "(none)"
            if got != exp_row:
                lines.append(f"  row {i + 1}: got      {json.dumps(got)}")
                lines.append(f"  row {i + 1}: expected {json.dumps(exp_row)}")
        failures.add(path.name, "\n".join(lines))
    return len(rows)


def schema_tree(rows: list[tuple]) -> list[dict]:
    """parquet_schema() rows (depth first, with child counts) -> the top-level columns, each
    with its children."""

    def node(i: int) -> tuple[dict, int]:
        name, ptype, length, repetition, children, converted, scale, precision, logical = rows[i]
        n = {
            "name": name,
            "type": ptype,
            "length": length,
            "repetition": repetition,
            "converted": converted,
            "scale": scale,
            "precision": precision,
            "logical": logical or "",
            "children": [],
        }
        i += 1
        for _ in range(children or 0):
            child, i = node(i)
            n["children"].append(child)
        return n, i

    root, end = node(0)
    if end != len(rows):
        raise ValueError(f"schema has {len(rows)} nodes, the tree {end}")
    return root["children"]


def is_utf8(n: dict) -> bool:
    return n["type"] == "BYTE_ARRAY" and (
        n["converted"] == "UTF8" or n["logical"].startswith("StringType")
    )


def type_problem(ddl: str, n: dict) -> str | None:
    """Why a Parquet column does not carry the DDL type, or None when it does."""
    if ddl == "string":
        return None if is_utf8(n) and not n["children"] else "want BYTE_ARRAY UTF8"
    if ddl == "bigint":
        ok = (
            n["type"] == "INT64"
            and n["converted"] in (None, "INT_64")
            and not n["logical"].startswith("Timestamp")
        )
        return None if ok else "want INT64 (no logical type)"
    match = re.fullmatch(r"decimal\((\d+),(\d+)\)", ddl)
    if match:
        precision, scale = int(match[1]), int(match[2])
        ok = (
            n["type"] == "FIXED_LEN_BYTE_ARRAY"
            and n["converted"] == "DECIMAL"
            and n["precision"] == precision
            and n["scale"] == scale
        )
        return None if ok else f"want FIXED_LEN_BYTE_ARRAY DECIMAL({precision},{scale})"
    if ddl == "timestamp":
        logical = n["logical"].replace(" ", "")
        ok = (
            n["type"] == "INT64"
            and n["converted"] == "TIMESTAMP_MILLIS"
            and "isAdjustedToUTC=1" in logical
            and "MILLIS=MilliSeconds()" in logical
        )
        return None if ok else "want INT64 TIMESTAMP(MILLIS, UTC)"
    if ddl == "map<string,string>":
        entries = n["children"][0] if len(n["children"]) == 1 else None
        ok = (
            n["converted"] == "MAP"
            and entries is not None
            and entries["repetition"] == "REPEATED"
            and len(entries["children"]) == 2
            and [c["name"] for c in entries["children"]] == ["key", "value"]
            and all(is_utf8(c) for c in entries["children"])
            and entries["children"][0]["repetition"] == "REQUIRED"
        )
        return None if ok else "want MAP of a repeated key/value group, both UTF8 (key required)"
    return f"no rule for DDL type {ddl}"


def check_types(
    con, tables: dict[str, dict], files: dict[str, list[str]], failures: Failures
) -> dict[str, int]:
    """Every Parquet file of every table against the DDL, column by column; returns the number
    of files checked per table."""
    checked: dict[str, int] = {}
    for name, t_def in tables.items():
        columns = t_def["columns"]
        for path in files.get(name, []):
            rows = con.execute(
                "SELECT name, type, type_length, repetition_type, num_children, converted_type, "
                "scale, precision, logical_type FROM parquet_schema(?)",
                [path],
            ).fetchall()
            where = str(Path(path).relative_to(Path(path).parents[3]))
            try:
                top = schema_tree(rows)
            except (ValueError, IndexError) as e:
                failures.add(where, f"unreadable Parquet schema: {e}")
                continue
            in_file = {n["name"]: n for n in top}
            for missing in [c for c in columns if c not in in_file]:
                failures.add(
                    where,
                    f"column {missing} ({columns[missing]}) is in the DDL but not in the file",
                )
            for extra in [c for c in in_file if c not in columns]:
                failures.add(where, f"column {extra} is in the file but not in the DDL")
            for c, kind in columns.items():
                if c in in_file:
                    problem = type_problem(kind, in_file[c])
                    if problem:
                        got = in_file[c]
                        failures.add(
                            where,
                            f"column {c} is {kind} in the DDL but {got['type']} "
                            f"{got['converted']} {got['logical']} in the file ({problem})",
                        )
            checked[name] = checked.get(name, 0) + 1
    return checked


def check_evolution(con, files: dict[str, list[str]], failures: Failures) -> str | None:
    """Schema evolution: a file written before a column existed (simulated by dropping
    `command_line` and shuffling the column order) is read beside a current one *by column
    name*, as Athena reads Parquet: the old rows read NULL there, nothing else moves."""
    events = files.get("events") or []
    if not events:
        failures.add("evolution", "no events Parquet file to test with")
        return None
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        part = Path(tmp) / "dt=2026-03-14" / "hour=09"
        part.mkdir(parents=True)
        src = events[0]
        shutil.copy(src, part / "new.parquet")
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{src}')").fetchall()]
        older = [c for c in reversed(cols) if c != "command_line"]
        select = ", ".join(f'"{c}"' for c in older)
        con.execute(
            f"COPY (SELECT {select} FROM read_parquet('{src}')) TO '{part / 'old.parquet'}' (FORMAT parquet)"
        )
        (total, old_rows, old_with_cmd, new_with_cmd, expected_cmd, ids_match) = con.execute(
            f"""
            WITH t AS (SELECT *, filename LIKE '%old.parquet' AS old
                       FROM read_parquet('{tmp}/*/*/*.parquet', union_by_name = true, filename = true))
            SELECT count(*), count(*) FILTER (WHERE old),
                   count(command_line) FILTER (WHERE old), count(command_line) FILTER (WHERE NOT old),
                   (SELECT count(command_line) FROM read_parquet('{src}')),
                   (SELECT count(DISTINCT id) FROM t WHERE old) = (SELECT count(DISTINCT id) FROM t WHERE NOT old)
            FROM t"""
        ).fetchone()
    if total != 2 * old_rows or old_with_cmd != 0 or new_with_cmd != expected_cmd or not ids_match:
        failures.add(
            "evolution",
            f"reading an older file by name went wrong: {total} rows, {old_rows} old, "
            f"{old_with_cmd} old rows with command_line, {new_with_cmd}/{expected_cmd} new ones",
        )
        return None
    return f"an older file without command_line reads beside a current one by name ({old_rows} rows each)"


def check_findings(con, root: Path, ddl, failures: Failures) -> None:
    """The findings the forwarder wrote, read as Athena's JSON SerDe would: every member of every
    line is a column of findings.sql with a JSON type that fits the column's, and the query of
    docs/detections.md runs (in DuckDB, transpiled) and counts hits per rule and host."""
    files = sorted(str(p) for p in root.glob("dt=*/*.findings.ndjson.gz"))
    if not files:
        failures.add(str(root), "no findings files")
        return
    if ddl is None:
        return
    columns = {c.name: c.args["kind"].sql(dialect="athena").lower() for c in ddl.find_all(exp.ColumnDef)}
    fits = {
        "string": (str,),
        "bigint": (int,),
        "boolean": (bool,),
    }
    for path in files:
        import gzip

        with gzip.open(path, "rt", encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                record = json.loads(line)
                for key, value in record.items():
                    ty = columns.get(key)
                    if ty is None:
                        failures.add(Path(path).name, f"line {n}: member {key!r} is not a column of findings.sql")
                    elif value is not None and ty in fits and not isinstance(value, fits[ty]):
                        failures.add(Path(path).name, f"line {n}: {key} is {type(value).__name__}, the DDL says {ty}")
                    elif value is not None and ty.startswith("struct") and not isinstance(value, dict):
                        failures.add(Path(path).name, f"line {n}: {key} is not an object ({ty})")
                    elif value is not None and ty.startswith("array") and not isinstance(value, list):
                        failures.add(Path(path).name, f"line {n}: {key} is not a list ({ty})")
    query = (
        "SELECT rule.title, aid, count(*) AS hits FROM falconry.findings "
        "WHERE dt >= '2020-01-01' AND capped IS NULL GROUP BY 1, 2 ORDER BY hits DESC"
    )
    con.execute("CREATE SCHEMA IF NOT EXISTS falconry")
    listed = ", ".join(f"'{f}'" for f in files)
    source = (
        f"read_json([{listed}], format = 'newline_delimited', union_by_name = true, "
        "hive_partitioning = true)"
    )
    present = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    # As Athena reads them: every DDL column, NULL where no line has the member.
    select = ", ".join(f'"{c}"' if c in present else f'NULL AS "{c}"' for c in dict.fromkeys([*columns, "dt"]))
    con.execute(f"CREATE OR REPLACE VIEW falconry.findings AS SELECT {select} FROM {source}")
    try:
        rows = con.execute(sqlglot.transpile(query, read="athena", write="duckdb")[0]).fetchall()
    except Exception as e:  # noqa: BLE001 - any failure is the finding
        failures.add("findings", f"the documented query fails: {e}")
        return
    if not rows:
        failures.add("findings", "the documented query returns nothing")
    print(f"findings: {len(files)} file(s), {len(rows)} (rule, host) pair(s)")


def run_query(parquet: Path, ddl: Path, query: Path) -> int:
    """--query: lint, transpile and run one SELECT; print its rows as JSON."""
    failures = Failures()
    tables = read_ddl(ddl, failures)
    text = query.read_text(encoding="utf-8")
    try:
        statements = [s for s in sqlglot.parse(text, read="athena") if s is not None]
    except SqlglotError as e:
        print(f"{query.name}: does not parse as Athena SQL: {parse_message(e)}", file=sys.stderr)
        return 1
    if len(statements) != 1 or not isinstance(statements[0], (exp.Select, exp.Union)):
        print(f"{query.name}: {len(statements)} statements, want one SELECT", file=sys.stderr)
        return 1
    schema = sqlglot_schema(tables)
    for db in schema.values():
        for cols in db.values():
            cols["$path"] = "string"
    try:
        qualify(
            statements[0].copy(),
            schema=schema,
            dialect="athena",
            validate_qualify_columns=True,
            identify=False,
        )
    except SqlglotError as e:
        print(f"{query.name}: names a column or table the DDL does not have: {e}", file=sys.stderr)
        return 1
    duck_sql = statements[0].sql(dialect="duckdb")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    create_views(con, parquet, tables, set(tables), failures, with_path=True)
    cur = con.execute(duck_sql)
    header = [d[0] for d in cur.description]
    rows = [[None if v is None else str(v) for v in row] for row in cur.fetchall()]
    print(json.dumps({"header": header, "rows": rows, "duckdb": duck_sql}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--parquet", required=True, type=Path, help="<dest>/parquet written by the forwarder"
    )
    parser.add_argument("--ddl", type=Path, default=HERE / "tables.sql")
    parser.add_argument(
        "--findings",
        type=Path,
        help="<dest>/findings written by the forwarder with rules: checked against findings.sql",
    )
    parser.add_argument("--hunts", type=Path, default=HERE / "hunts")
    parser.add_argument(
        "--allow-missing",
        default="lookup_other",
        help="comma-separated tables that may have no Parquet files (default: lookup_other)",
    )
    parser.add_argument(
        "--query", type=Path, help="run this one SELECT (a hunt's SQL) and print its rows as JSON"
    )
    args = parser.parse_args()
    if args.query:
        return run_query(args.parquet, args.ddl, args.query)
    failures = Failures()
    allow_missing = {t for t in args.allow_missing.split(",") if t}

    tables = read_ddl(args.ddl, failures)
    schema = sqlglot_schema(tables)
    # The findings table (gzip NDJSON, generated beside tables.sql): one CREATE that parses.
    findings = args.ddl.parent / "findings.sql"
    try:
        created = [s for s in sqlglot.parse(findings.read_text(encoding="utf-8"), read="athena") if s is not None]
        if len(created) != 1 or not isinstance(created[0], exp.Create):
            failures.add(findings.name, f"{len(created)} statements, want one CREATE TABLE")
    except (OSError, SqlglotError) as e:
        failures.add(findings.name, f"does not parse as Athena SQL: {e}")
        created = []
    hunts = sorted(
        p for p in args.hunts.glob("*.sql") if re.fullmatch(r"\d\d-[a-z0-9-]+\.sql", p.name)
    )
    strays = sorted(p.name for p in args.hunts.glob("*.sql") if p not in hunts)
    for stray in strays:
        failures.add(stray, "hunt files are named NN-short-name.sql")
    if len(hunts) < 10:
        failures.add(str(args.hunts), f"{len(hunts)} hunts, want at least 10")

    transpiled: dict[Path, str] = {}
    for path in hunts:
        text = path.read_text(encoding="utf-8")
        try:
            statements = [s for s in sqlglot.parse(text, read="athena") if s is not None]
        except SqlglotError as e:
            failures.add(path.name, f"does not parse as Athena SQL: {parse_message(e)}")
            continue
        if len(statements) != 1:
            failures.add(path.name, f"{len(statements)} statements, want exactly one")
            continue
        lint_hunt(path, text, statements[0], schema, failures)
        try:
            transpiled[path] = statements[0].sql(dialect="duckdb")
        except SqlglotError as e:
            failures.add(path.name, f"does not transpile to DuckDB: {e}")

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")

    files: dict[str, list[str]] = {}
    if args.parquet.is_dir():
        files = create_views(con, args.parquet, tables, allow_missing, failures)
    else:
        failures.add(str(args.parquet), "is not a directory")
    if args.findings is not None:
        check_findings(con, args.findings, created[0] if created else None, failures)
    ran = any(files.values())
    counts = (
        {path: run_hunt(con, path, sql, failures) for path, sql in transpiled.items()}
        if ran
        else {}
    )
    checked = check_types(con, tables, files, failures)
    evolution = check_evolution(con, files, failures)

    print(f"DDL: {len(tables)} tables parsed from {args.ddl.name}")
    for name, t_def in tables.items():
        n_files = checked.get(name, 0)
        note = (
            f"{n_files} Parquet file(s) checked against the DDL's {len(t_def['columns'])} columns"
            if n_files
            else "no Parquet files"
        )
        print(f"  {name}: {note}")
    if evolution:
        print(f"schema evolution: {evolution}")
    print(f"hunts: {len(hunts)}")
    for path in hunts:
        rows = counts.get(path)
        print(f"  {path.name}: {'not run' if rows is None else f'{rows} row(s)'}")
    if failures.items:
        print(f"\nFAILED: {len(failures.items)} problem(s)", file=sys.stderr)
        for item in failures.items:
            print(f"- {item}", file=sys.stderr)
        return 1
    print(
        "OK: DDL and hunts parse as Athena SQL, hunts return their expected rows, "
        "Parquet types match the DDL"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
