"""``animespeech lineage``: what produced a file, why a row is in a dataset, versions and diffs."""

from __future__ import annotations

import json
from pathlib import Path

from animespeech_assets.core.layout import DataLayout
from animespeech_assets.provenance.why import WhyError


class NoRecordError(WhyError):
    """No lineage record for the asset and partition asked about."""


def add_parser(sub) -> None:
    s = sub.add_parser("lineage", help="what produced a dataset, from which inputs, models and parameters")
    lsub = s.add_subparsers(dest="lineage_cmd", required=True)
    for name, help_ in (("show", "latest record and, recursively, the records of its inputs"),
                        ("history", "every record, newest first, with what changed")):
        ls = lsub.add_parser(name, help=help_)
        ls.add_argument("asset")
        ls.add_argument("--episode", "--character", "--partition", dest="episode", help="partition (episode or character key)")
    ls = lsub.add_parser("why", help="the transcript lines behind a row of a dataset or asset table, who decided their character, and every version on the way")
    ls.add_argument("file", type=Path, help="a file under data/exports/ or data/assets/")
    ls.add_argument("--row", type=int, help="0-based row: JSONL line, CSV/list data row, Parquet row, JSON list element (not for a WAV)")
    ls.add_argument("--json", action="store_true", help="one JSON object")
    ls = lsub.add_parser("versions", help="the recorded versions of an asset, newest first, and which are kept")
    ls.add_argument("asset")
    ls.add_argument("--episode", "--character", "--partition", dest="episode", help="partition (episode or character key)")
    ls = lsub.add_parser("diff", help="rows added, removed and changed between two versions, and the inputs that differ")
    ls.add_argument("asset")
    ls.add_argument("--episode", "--character", "--partition", dest="episode", help="partition (episode or character key)")
    ls.add_argument("--from", dest="old", help="version (hash prefix); default: the previous")
    ls.add_argument("--to", dest="new", help="version (hash prefix); default: the current")
    ls.add_argument("--json", action="store_true", help="one JSON object")
    ls = lsub.add_parser("verify", help="every current record's outputs exist with the recorded hash; orphan and temporary files listed")
    ls.add_argument("--fix", action="store_true", help="remove the orphan and temporary files (never human-owned files)")
    ls.add_argument("--json", action="store_true", help="one JSON object")
    ls = lsub.add_parser("sql", help="run a DuckDB query over the views `lineage` and `lineage_inputs`")
    ls.add_argument("query")
    s.set_defaults(func=cmd_lineage)


def cmd_lineage(args, layout: DataLayout) -> int:
    from animespeech_assets.core.lineage import Ledger, format_history, format_trace

    ledger = Ledger(layout.lineage)
    if args.lineage_cmd == "show":
        rec = ledger.trace(args.asset, args.episode)
        if rec is None:
            raise NoRecordError(f"no lineage record for {args.asset}" + (f" [{args.episode}]" if args.episode else ""))
        print(format_trace(rec))
    elif args.lineage_cmd == "history":
        recs = ledger.records(args.asset, args.episode)
        if not recs:
            raise NoRecordError(f"no lineage record for {args.asset}" + (f" [{args.episode}]" if args.episode else ""))
        print(format_history(recs))
    elif args.lineage_cmd == "why":
        from animespeech_assets.provenance.why import explain, format_answer

        answer = explain(layout, args.file, args.row)
        print(json.dumps(answer, ensure_ascii=False, indent=1, default=str) if args.json else format_answer(answer))
    elif args.lineage_cmd == "versions":
        from animespeech_assets.provenance.diff import versions

        found = versions(layout, args.asset, args.episode or "")
        if not found:
            raise NoRecordError(f"no lineage record for {args.asset}" + (f" [{args.episode}]" if args.episode else ""))
        for v in found:
            print(f"{v['version'][:16]}  {v['finished_at'][:19]}  rows={v['rows']}  run={v['run_id'][:8]}  code={v['code_version']}  "
                  + ("kept" if v["kept"] else "not kept"))
    elif args.lineage_cmd == "diff":
        from animespeech_assets.provenance.diff import diff, format_diff

        d = diff(layout, args.asset, args.episode or "", args.old, args.new)
        print(json.dumps(d, ensure_ascii=False, indent=1, default=str) if args.json else format_diff(d))
    elif args.lineage_cmd == "verify":
        from animespeech_assets.provenance.verify import fix, format_report, verify

        report = verify(layout)
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=1) if args.json else format_report(report))
        if args.fix and (report.orphans or report.temporary):
            removed = fix(report)
            print(f"removed {len(removed)} orphan or temporary file(s)")
            return 1 if report.missing or report.changed else 0
        return 0 if report.clean else 1
    elif args.lineage_cmd == "sql":
        con = ledger.connect()
        try:
            cur = con.execute(args.query)
            cols = [d[0] for d in cur.description]
            print("\t".join(cols))
            for row in cur.fetchall():
                print("\t".join("" if v is None else str(v) for v in row))
        finally:
            con.close()
    return 0
