"""report.py: the PASS / FAIL / SKIP lines of the Python tests (tests/run.sh counts them).

    from report import report, finish
    report("name", check)   # check() raises on failure, returns None or a reason to skip
    finish()                # exits 1 if any check failed
"""
import sys

failures = 0


def report(name, fn):
    """PASS name; SKIP name: why, when fn returns why; FAIL name: what, when fn raises (an
    assertion, or any other error said in one line, so one broken check does not stop the rest)."""
    global failures
    try:
        msg = fn()
    except AssertionError as e:
        failures += 1
        print("FAIL %s: %s" % (name, e))
        return
    except Exception as e:
        failures += 1
        print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
        return
    print(("SKIP %s: %s" % (name, msg)) if msg else ("PASS " + name))


def finish():
    sys.exit(1 if failures else 0)
