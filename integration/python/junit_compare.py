"""python/junit_compare.py - compare two `python -m test --junit-xml` reports.

Usage: junit_compare.py NATIVE.xml UEPOLL.xml

Each test case gets one status: ok, skipped, failure or error (from the
<skipped>/<failure>/<error> child regrtest writes).  Prints, for each side,
"result SIDE pass|fail: N ok, N skipped, N failed, N errors" (pass when no
test failed and none errored), then every test id whose status differs
between the sides, or that one side ran and the other did not, with the
uepoll side's message.  Exit 0 when the statuses agree test by test, 1
otherwise.  A missing or unreadable report is a failed side.
"""
import sys
import xml.etree.ElementTree as ET


def load(path):
    """{test id: (status, message)} from one report; None if unreadable."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"{path}: {e}")
        return None
    cases = {}
    for tc in root.iter("testcase"):
        status, message = "ok", ""
        for child in tc:
            if child.tag in ("failure", "error", "skipped"):
                status = child.tag
                message = (child.get("message") or "") + "\n" + (child.text or "")
                break
        cases[tc.get("name")] = (status, message.strip())
    return cases


def outcome(cases):
    if cases is None:
        return "fail: no report (the run did not finish)"
    counts = {s: 0 for s in ("ok", "skipped", "failure", "error")}
    for status, _ in cases.values():
        counts[status] += 1
    verdict = "pass" if counts["failure"] == counts["error"] == 0 and counts["ok"] else "fail"
    return (f"{verdict}: {counts['ok']} ok, {counts['skipped']} skipped, "
            f"{counts['failure']} failed, {counts['error']} errors")


def main():
    native, uepoll = load(sys.argv[1]), load(sys.argv[2])
    differ = []
    if native is not None and uepoll is not None:
        for name in sorted(set(native) | set(uepoll)):
            n = native.get(name, ("not run", ""))
            u = uepoll.get(name, ("not run", ""))
            if n[0] != u[0]:
                differ.append((name, n, u))
    for name, n, u in differ:
        print(f"DIFFERS {name}: native {n[0]}, uepoll {u[0]}")
        for side, (_, msg) in (("native", n), ("uepoll", u)):
            if msg:
                print(f"  {side} output:")
                print("    " + msg.replace("\n", "\n    ")[:4000])
    print(f"result native {outcome(native)}")
    u_out = outcome(uepoll)
    if differ:
        u_out = f"fail: {len(differ)} tests differ from native ({u_out})"
    print(f"result uepoll {u_out}")
    return 0 if native is not None and uepoll is not None and not differ else 1


if __name__ == "__main__":
    sys.exit(main())
